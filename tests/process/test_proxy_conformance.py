"""The official MCP conformance suite (server scenarios) gives the same results against a
real server directly, through the HTTP proxy, and through the stdio bridge.

The server is @modelcontextprotocol/server-everything (npm, pinned in hack/npm): over
Streamable HTTP for the direct and proxied runs, over stdio behind the bridge. It is not
the suite's reference server, so some scenarios fail directly too; what is asserted is
that the proxy and the bridge change no result, check by check.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from process.proxykit import everything_server, npm_dir, proxy

pytestmark = [pytest.mark.process, pytest.mark.timeout(600)]


def conformance(url: str, out: Path) -> dict[str, str]:
    """Runs every active server scenario; returns {scenario/check: status}."""
    suite = npm_dir() / "node_modules/@modelcontextprotocol/conformance/dist/index.js"
    run = subprocess.run(
        ["node", str(suite), "server", "--url", url, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    results: dict[str, str] = {}
    for checks in sorted(out.glob("*/checks.json")):
        scenario = re.sub(r"-\d{4}-\d{2}-\d{2}T.*$", "", checks.parent.name)  # no timestamp
        for check in json.loads(checks.read_text()):
            results[f"{scenario}/{check['id']}"] = check["status"]
    assert results, f"the suite produced no results:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    return results


def differences(a: dict[str, str], b: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def test_conformance_direct_equals_proxy_equals_bridge(tmp_path: Path) -> None:
    entry = npm_dir() / "node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    with everything_server(tmp_path) as server:
        direct = conformance(server.url, tmp_path / "direct")
        with proxy(tmp_path, upstream=server) as px:
            proxied = conformance(px.url, tmp_path / "proxied")
    with proxy(
        tmp_path, "--transport", "stdio", "--", "node", str(entry), "stdio", name="bridge"
    ) as br:
        bridged = conformance(br.url, tmp_path / "bridged")
    passed = sum(status == "SUCCESS" for status in direct.values())
    assert passed >= 10, direct  # the suite really ran against a working server
    assert differences(direct, proxied) == {}, "through the proxy"
    assert differences(direct, bridged) == {}, "through the bridge"
    (tmp_path / "summary.json").write_text(json.dumps(direct, indent=1))
