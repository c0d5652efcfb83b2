"""`hack/images.py check`: run every built image once, with no network (`--network none`).

- pause starts and says what it is;
- mcpops-proxy installs itself into a shared volume (what a stdio server's init container
  does), and the installed binary serves mcp-server-time over stdio in the mcp-python image:
  ready (an MCP exchange through the child) and the protocol revision classified;
- the operator image runs `mcpops --help`;
- the solver image solves a Netlib instance from the shared data set to its known objective;
- mcp-python and mcp-node answer an MCP exchange over stdio (initialize, tools/list), and
  stop on SIGTERM (tini is their PID 1) rather than after a grace period;
- no image carries a certificate the host trusts beyond Debian's bundle (the build-time CA
  mount left nothing behind): each image's bundle is the base image's own.

A content key of every image names a stamp file, so an unchanged set is checked once.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from images import (
    BASE,
    HOST_CA_BUNDLE,
    ROOT,
    Store,
    default_store,
    digest,
    log,
    output,
    resolve,
    tags,
)

SOLVER_INSTANCE = "adlittle"  # a small Netlib LP: solves in well under a second
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PROTOCOL_VERSION = "2025-06-18"
# The filesystem server refuses to start without an allowed directory that exists.
FILESYSTEM_SERVER = ("mcp-server-filesystem", "/tmp")


def pem_blocks(text: str) -> set[str]:
    """The certificates of a PEM bundle, whitespace-normalised."""
    blocks, current = set(), []
    for line in text.splitlines():
        line = line.strip()
        if line == "-----BEGIN CERTIFICATE-----":
            current = [line]
        elif current:
            current.append(line)
            if line == "-----END CERTIFICATE-----":
                blocks.add("\n".join(current))
                current = []
    return blocks


def foreign_certs(image_bundle: str, base_bundle: str) -> set[str]:
    """Certificates in an image's bundle that Debian's bundle (the base image's) lacks."""
    return pem_blocks(image_bundle) - pem_blocks(base_bundle)


def mcp_requests() -> list[dict[str, Any]]:
    return [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "mcpops-images-check", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]


def read_response(stream: Any, request_id: int) -> dict[str, Any]:
    """The next JSON-RPC response with this id (log lines and notifications skipped)."""
    for line in stream:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict) and message.get("id") == request_id:
            return message
    raise RuntimeError(f"the server closed its output before answering request {request_id}")


def stdio_tools(cmd: Sequence[str], env: Mapping[str, str], timeout: float = 60) -> list[str]:
    """Initialise an MCP server over stdio, list its tools, return their names."""
    proc = subprocess.Popen(
        list(cmd),
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # servers log there; the exchange is what is checked
        text=True,
    )
    watchdog = threading.Timer(timeout, proc.kill)  # a hung server fails the check, not the run
    watchdog.start()
    try:
        assert proc.stdin is not None and proc.stdout is not None
        initialize, initialized, list_tools = mcp_requests()
        proc.stdin.write(json.dumps(initialize) + "\n")
        proc.stdin.flush()
        read_response(proc.stdout, 1)
        proc.stdin.write(json.dumps(initialized) + "\n" + json.dumps(list_tools) + "\n")
        proc.stdin.flush()
        tools = read_response(proc.stdout, 2)["result"]["tools"]
        return [str(tool["name"]) for tool in tools]
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()


def opt_data() -> Path | None:
    candidates = [
        os.environ.get("MCPOPS_OPT_DATA", ""),
        str(ROOT.parent / "shared/data/optimization"),
    ]
    candidates.append("/work/shared/data/optimization")
    return next((Path(c) for c in candidates if c and (Path(c) / "manifest.json").exists()), None)


def relative_error(value: float, expected: float) -> float:
    return abs(value - expected) / max(1.0, abs(expected))


def check_solver(store: Store, ref: str) -> str:
    data = opt_data()
    if data is None:
        return "skipped: no optimization data set (set MCPOPS_OPT_DATA)"
    manifest = json.loads((data / "manifest.json").read_text())
    (entry,) = [i for i in manifest["instances"] if i["name"] == SOLVER_INSTANCE]
    run = store.podman(
        "run",
        "--rm",
        "--network=none",
        "--volume",
        f"{data}:/data:ro",
        ref,
        f"/data/{entry['file']}",
    )
    summary = json.loads(output(run, store.env()).strip().splitlines()[-1])
    objective = float(summary["objective"])
    expected = float(entry["optimal_objective"])
    if summary.get("status") != "OPTIMAL" or relative_error(objective, expected) > 1e-6:
        raise SystemExit(f"solver: {SOLVER_INSTANCE} gave {summary}, expected {expected}")
    return f"{SOLVER_INSTANCE}: {summary['status']} {objective} (known optimum {expected})"


PROXY_PROBE = """
import json, time, urllib.request
deadline = time.monotonic() + 60
while True:
    try:
        ready = urllib.request.urlopen("http://127.0.0.1:8090/readyz", timeout=5).status
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.3)
info = json.load(urllib.request.urlopen("http://127.0.0.1:8090/mcpops/info", timeout=5))
print(json.dumps({**info, "readyz": ready}))
"""


def check_proxy(store: Store, proxy: str, python: str) -> str:
    """The proxy image's binary, installed as the init container does, wraps a stdio
    server in another image (the static binary needs nothing of it)."""
    name = f"mcpops-check-{digest(proxy + str(time.time()))}"
    with tempfile.TemporaryDirectory(prefix="mcpops-proxy-") as tmp:
        os.chmod(tmp, 0o777)  # the image's user (65532) writes the binary here
        mount = f"{tmp}:/mcpops/bin"
        podman_output(store, "--volume", mount, proxy, "install", "/mcpops/bin")
        start = store.podman("run", "--detach", "--network=none", "--name", name)
        serve = ["/mcpops/bin/mcpops-proxy", "--transport", "stdio", "--", "mcp-server-time"]
        output([*start, "--volume", mount, python, *serve], store.env())
        try:
            probe = store.podman("exec", name, "python3", "-c", PROXY_PROBE)
            info = json.loads(output(probe, store.env()).strip().splitlines()[-1])
        finally:
            remove = store.podman("rm", "--force", name)
            subprocess.run(remove, env=store.env(), capture_output=True, check=False)
    if info.get("readyz") != 200 or not info.get("protocolVersion"):
        raise SystemExit(f"mcpops-proxy over mcp-server-time in {python}: {info}")
    return (
        f"installed, wraps mcp-server-time in {python.split('/')[1]}: ready, "
        f"protocol {info['protocolVersion']}"
    )


def check_tools(store: Store, ref: str, cmd: Sequence[str], expected: str) -> str:
    tools = stdio_tools(store.podman("run", "--rm", "-i", "--network=none", ref, *cmd), store.env())
    if expected not in tools:
        raise SystemExit(f"{ref}: tool {expected!r} missing from {tools}")
    return f"{' '.join(cmd)} lists {len(tools)} tools over stdio, {expected} among them"


def wait_for_process(store: Store, container: str, program: str, timeout: float = 30) -> None:
    """Until the container runs the program (signalled before, it would prove nothing)."""
    deadline = time.monotonic() + timeout
    while program not in output(store.podman("top", container, "args"), store.env()):
        if time.monotonic() > deadline:
            raise SystemExit(f"{container}: {program} did not start within {timeout} s")
        time.sleep(0.2)


def check_stops(store: Store, ref: str, cmd: Sequence[str], grace: int = 10) -> str:
    """The server ends on SIGTERM (tini is PID 1), not after the grace period (SIGKILL)."""
    name = f"mcpops-check-{digest(ref + str(time.time()))}"
    # --interactive: stdin stays open, so a stdio server keeps running until it is stopped.
    start_cmd = store.podman("run", "--detach", "--interactive", "--network=none", "--name", name)
    output([*start_cmd, ref, *cmd], store.env())
    wait_for_process(store, name, cmd[0])
    try:
        start = time.monotonic()
        output(store.podman("stop", "--time", str(grace), name), store.env())
        seconds = time.monotonic() - start
    finally:
        subprocess.run(store.podman("rm", "--force", name), env=store.env(), capture_output=True)
    if seconds > grace / 2:
        raise SystemExit(f"{ref} {' '.join(cmd)}: took {seconds:.1f} s to stop (SIGTERM ignored?)")
    return f"{' '.join(cmd)} stops on SIGTERM in {seconds:.1f} s"


def check_ca(store: Store, refs: Mapping[str, str]) -> str:
    def bundle(ref: str) -> str:
        return podman_output(store, "--entrypoint", "cat", ref, CA_BUNDLE)

    base = bundle(refs["base"])
    host_only = pem_blocks(HOST_CA_BUNDLE.read_text()) - pem_blocks(base)
    for name, ref in refs.items():
        if name in ("base", "pause", "mcpops-proxy"):  # FROM scratch: no bundle at all
            continue
        extra = foreign_certs(bundle(ref), base)
        if extra:
            raise SystemExit(f"{ref}: {len(extra)} certificate(s) beyond Debian's bundle")
    return (
        f"every image's CA bundle is Debian's ({len(pem_blocks(base))} certificates); "
        f"none of the host's {len(host_only)} extra ones"
    )


def podman_output(store: Store, *args: str) -> str:
    return output(store.podman("run", "--rm", "--network=none", *args), store.env())


def checks(store: Store, refs: Mapping[str, str]) -> list[tuple[str, Callable[[], str]]]:
    operator, python, node = refs["mcpops"], refs["mcp-python"], refs["mcp-node"]
    return [
        ("pause", lambda: podman_output(store, refs["pause"], "-v").strip()),
        ("mcpops", lambda: podman_output(store, operator, "--help").splitlines()[0][:70]),
        ("mcpops-proxy", lambda: check_proxy(store, refs["mcpops-proxy"], python)),
        ("mcpops-solver", lambda: check_solver(store, refs["mcpops-solver"])),
        ("mcp-python", lambda: check_tools(store, python, ["mcp-server-time"], "get_current_time")),
        ("mcp-node", lambda: check_tools(store, node, ["mcp-server-everything", "stdio"], "echo")),
        ("mcp-node", lambda: check_tools(store, node, FILESYSTEM_SERVER, "read_text_file")),
        ("mcp-node", lambda: check_stops(store, node, ["mcp-server-everything", "streamableHttp"])),
        ("mcp-python", lambda: check_stops(store, python, ["mcp-server-time"])),
        ("ca", lambda: check_ca(store, refs)),
    ]


def check_all(root: Path, images_dir: Path, force: bool = False) -> None:
    resolved = resolve(root, images_dir, BASE.key())
    missing = [r.ref for r in resolved if not r.archive.exists()]
    if missing:
        raise SystemExit(f"not built yet (run `make images`): {', '.join(missing)}")
    refs = tags(resolved, BASE.key())
    # What was checked (every image's content) and how (this file): both name the stamp.
    how = Path(__file__).read_text()
    stamp = images_dir / f"checked-{digest(json.dumps(refs, sort_keys=True) + how)}"
    if stamp.exists() and not force:
        log(f"images checked already for this content ({stamp.name}): {stamp.read_text().strip()}")
        return
    store = default_store(images_dir)
    results = checks(store, refs)
    for name, check in results:
        print(f"ok  {name:<14} {check()}", flush=True)
    for old in images_dir.glob("checked-*"):
        old.unlink()
    stamp.write_text(f"{len(results)} checks passed\n")
