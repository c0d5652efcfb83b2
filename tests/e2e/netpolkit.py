"""NetworkPolicy enforced on the real node: kube-router's policy controller (only that part:
no routing, no service proxy; built by `make node` from hack/kuberouter/go.mod) beside the
CNI bridge and kube-proxy, for the tests that need it, then removed with its rules.

kube-router puts its jumps first in FORWARD/INPUT/OUTPUT and ACCEPTs what complies with the
policies, which would pass over the real node's own guard (hack/realnode.py MCPOPS-FWD:
nothing from the pod range is forwarded anywhere but the bridge). While it runs, the same
guard is kept in the mangle table's FORWARD, which the packet meets first.
"""

from __future__ import annotations

import contextlib
import ctypes
import shlex
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from clusterkit import Cluster, wait_until
from e2ekit import NODE_NAME, realnode
from ports import free_port

GUARD = "MCPOPS-NETPOL-GUARD"
CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
SET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-", "kube-router-")
PR_SET_PDEATHSIG = 1


def _ipt(table: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iptables", "-w", "-t", table, *args], capture_output=True, text=True, check=check
    )


def _die_with_parent() -> None:
    """kube-router ends with the test process, however that ends (no orphan rewriting
    iptables after a crash)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _guard_up() -> None:
    _ipt("mangle", "-N", GUARD, check=False)
    _ipt("mangle", "-F", GUARD)
    pods, bridge = realnode.POD_CIDR, realnode.BRIDGE
    for rule in (
        ["-s", pods, "-o", bridge, "-j", "RETURN"],
        ["-s", pods, "-j", "DROP"],
        ["-d", pods, "!", "-i", bridge, "-j", "DROP"],
    ):
        _ipt("mangle", "-A", GUARD, *rule)
    _ipt("mangle", "-I", "FORWARD", "1", "-j", GUARD)


def _guard_down() -> None:
    while _ipt("mangle", "-D", "FORWARD", "-j", GUARD, check=False).returncode == 0:
        pass
    _ipt("mangle", "-F", GUARD, check=False)
    _ipt("mangle", "-X", GUARD, check=False)


def remove_rules() -> None:
    """What kube-router's policy controller leaves: jumps, chains, ipsets."""
    rules = _ipt("filter", "-S").stdout.splitlines()
    for line in rules:
        parts = shlex.split(line)  # comments are quoted
        if (
            parts[:1] == ["-A"]
            and not parts[1].startswith(CHAIN_PREFIXES)
            and any(p.startswith(CHAIN_PREFIXES) for p in parts[2:])
        ):
            _ipt("filter", "-D", *parts[1:], check=False)
    chains = [ln.split()[1] for ln in rules if ln.startswith("-N ")]
    ours = [c for c in chains if c.startswith(CHAIN_PREFIXES)]
    for chain in ours:
        _ipt("filter", "-F", chain, check=False)
    for chain in ours:
        _ipt("filter", "-X", chain, check=False)
    sets = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, check=False)
    for name in sets.stdout.split():
        if name.startswith(SET_PREFIXES):
            subprocess.run(["ipset", "destroy", name], capture_output=True, check=False)


def _healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
        return resp.status == 200


@contextlib.contextmanager
def policy_enforcer(cluster: Cluster, binary: str, log_path: Path) -> Iterator[None]:
    """kube-router enforcing NetworkPolicy on the real node while the block runs."""
    if shutil.which("ipset") is None:
        raise AssertionError("kube-router needs the ipset tool: `make node-apt` installs it")
    port = free_port()
    _guard_up()
    argv = [
        binary,
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        f"--kubeconfig={cluster.kubeconfig}",
        f"--hostname-override={NODE_NAME}",
        f"--service-cluster-ip-range={realnode.SERVICE_CIDR}",
        f"--health-port={port}",
        "--iptables-sync-period=1m",
        "--v=1",
    ]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    try:
        wait_until(lambda: proc.poll() is None and _healthy(port), timeout=60,
                   what=f"kube-router healthy (log {log_path})")  # fmt: skip
        wait_until(
            lambda: _ipt("filter", "-S", "KUBE-ROUTER-FORWARD", check=False).returncode == 0,
            timeout=30,
            what="kube-router's chains in place",
        )
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        remove_rules()
        _guard_down()
