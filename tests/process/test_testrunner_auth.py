"""The test runner against an auth-required server: the real proxy with a security file
(a real issuer on loopback), the real SDK server behind it, and `mcpops test-runner` as the
operator's test Job runs it, its token in a file (as a projected volume holds it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from process.proxykit import era_server, proxy
from process.securitykit import AUDIENCE, issuer

pytestmark = [pytest.mark.process, pytest.mark.timeout(180)]

SUITE = {
    "name": "smoke",
    "timeoutSeconds": 60,
    "builtin": {
        "requiredTools": ["echo"],
        "toolCalls": [{"tool": "echo", "arguments": {"text": "hi"}, "expect": {"contains": "hi"}}],
    },
}


def run_runner(url: str, tmp: Path, *args: str) -> tuple[int, dict[str, object]]:
    results = tmp / "results.json"
    res = subprocess.run(
        [str(Path(sys.executable).parent / "mcpops"), "test-runner", "--url", url,
         "--suite", str(tmp / "suite.json"), "--results", str(results),
         "--termination-log", str(tmp / "termination"), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert results.exists(), res.stderr
    return res.returncode, json.loads(results.read_text())


def test_the_runner_authenticates_with_its_token_file(tmp_path: Path) -> None:
    (tmp_path / "suite.json").write_text(json.dumps(SUITE))
    with issuer() as iss, era_server(tmp_path, "both") as server:
        settings = {
            "auth": {"issuers": [{"issuer": iss.url, "audiences": [AUDIENCE]}]},
            "tools": {"allow": ["echo"]},
        }
        path = tmp_path / "security.json"
        path.write_text(json.dumps(settings))
        with proxy(tmp_path, "--security-file", str(path), upstream=server) as px:
            # Without a token: no session, exit 3, and the result says why.
            code, result = run_runner(px.url, tmp_path)
            assert code == 3, result
            assert "401" in str(result.get("error")) or "nauthorized" in json.dumps(result)
            # With the token file: the suite passes through the auth-required proxy.
            token = tmp_path / "token"
            token.write_text(iss.token(sub="system:serviceaccount:ns:s-mcpops-test") + "\n")
            code, result = run_runner(px.url, tmp_path, "--token-file", str(token))
            assert code == 0, result
            assert result["outcome"] == "Passed", result
