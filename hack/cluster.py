#!/usr/bin/env python3
"""The local Kubernetes control plane for tests, demos and benchmarks.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run as
plain processes on loopback. kwok simulates nodes and pods; the Stage rules in
hack/kwok/stages.yaml let a test decide how a simulated pod ends.

    python hack/cluster.py up      # idempotent; waits for /readyz and Ready nodes
    python hack/cluster.py down    # stops exactly the processes `up` started
    python hack/cluster.py status
    python hack/cluster.py restart kube-apiserver   # or etcd, ...: same ports, flags, data

Where the machine can (root, cgroups, `make node` built), `up` also starts one real node
(hack/realnode.py: containerd, kubelet, kube-proxy, CoreDNS), tainted so that only pods
that tolerate it run there; MCPOPS_REAL_NODE=0 leaves it out.

Stdlib only, so it runs before the project's venv exists. Binaries come from
the cache built by the Makefile (MCPOPS_CP_BIN and MCPOPS_KWOK_BIN).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import realnode
from freeport import free_port

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("MCPOPS_CLUSTER_DIR", REPO / ".cluster"))
CP_BIN = Path(os.environ.get("MCPOPS_CP_BIN", ""))
KWOK_BIN = Path(os.environ.get("MCPOPS_KWOK_BIN", ""))
STAGES = REPO / "hack" / "kwok" / "stages.yaml"
ADMIN_USER = "mcpops-admin"
CORE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
READY_DEADLINE = float(os.environ.get("MCPOPS_CLUSTER_DEADLINE", "90"))


def log(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- state


def state_file() -> Path:
    return STATE_DIR / "state.json"


def load_state() -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(state_file().read_text())
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def save_state(state: dict[str, Any]) -> None:
    state_file().write_text(json.dumps(state, indent=2))


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, starttime) of a process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0], fields[19]


def proc_alive(pid: int, started: str) -> bool:
    """True if pid is still the process we started (its start time guards against pid reuse)."""
    st = _stat(pid)
    return st is not None and st[0] != "Z" and st[1] == started


# ---------------------------------------------------------------- pki, configs


def ensure_pki(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    key, pub = pki / "sa.key", pki / "sa.pub"
    if not key.exists():
        subprocess.run(
            ["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)],
            check=True,
            capture_output=True,
        )
    crt, crt_key = pki / "apiserver.crt", pki / "apiserver.key"
    if crt.exists() and realnode.NODE_IP not in subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(crt)],
        capture_output=True, text=True, check=False,
    ).stdout:  # fmt: skip
        crt.unlink()  # made before the real node existed: it lacks the node address
    if not crt.exists():
        # One self-signed serving cert; it doubles as the root CA that the
        # controller-manager publishes into kube-root-ca.crt ConfigMaps.
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", str(crt_key), "-out", str(crt), "-days", "3650",
                "-subj", "/CN=kube-apiserver",
                "-addext", "subjectAltName=DNS:localhost,DNS:kubernetes,"
                f"DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.96.0.1,IP:{realnode.NODE_IP}",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip


def write_kubeconfig(path: Path, server: str, token: str) -> None:
    # JSON is valid YAML; kubectl and every client read it.
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "mcpops-local",
                "cluster": {
                    "server": server,
                    "certificate-authority": str(STATE_DIR / "pki" / "apiserver.crt"),
                },
            }
        ],
        "users": [{"name": ADMIN_USER, "user": {"token": token}}],
        "contexts": [
            {"name": "mcpops-local", "context": {"cluster": "mcpops-local", "user": ADMIN_USER}}
        ],
        "current-context": "mcpops-local",
    }
    path.write_text(json.dumps(cfg, indent=2))
    path.chmod(0o600)


# ---------------------------------------------------------------- processes


def start(name: str, argv: list[str], state: dict[str, Any]) -> None:
    logs = STATE_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survive `make` returning; own process group
            cwd=STATE_DIR,
        )
    st = _stat(proc.pid)
    state["procs"][name] = {
        "pid": proc.pid,
        "started": st[1] if st else "",
        "exe": argv[0],
        "argv": argv,  # kept so that `restart` brings it back exactly as it was
    }
    save_state(state)


def adopt(name: str, pid: int) -> None:
    """Record a process started elsewhere (the demo's operator) so that `down` stops it too."""
    state = load_state()
    st = _stat(pid)
    if state is None or st is None:
        return
    exe = Path(f"/proc/{pid}/exe").resolve()
    state["procs"][name] = {"pid": pid, "started": st[1], "exe": str(exe)}
    save_state(state)


def stop_adopted(name: str) -> bool:
    """Stop one adopted process (e.g. the demo's operator); True if it was running."""
    state = load_state()
    proc = (state or {}).get("procs", {}).get(name)
    if state is None or proc is None:
        return False
    running = proc_alive(proc["pid"], proc["started"])
    if running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 15
        while proc_alive(proc["pid"], proc["started"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        if proc_alive(proc["pid"], proc["started"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc["pid"], signal.SIGKILL)
    del state["procs"][name]
    save_state(state)
    return running


def api_get(state: dict[str, Any], path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(STATE_DIR / "pki" / "apiserver.crt"))
    req = urllib.request.Request(
        f"https://{state.get('host', '127.0.0.1')}:{state['ports']['apiserver']}{path}",
        headers={"Authorization": f"Bearer {state['token']}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(what: str, check: Any, deadline: float, state: dict[str, Any]) -> None:
    last = ""
    while time.monotonic() < deadline:
        for name, proc in state["procs"].items():
            if name in CORE and not proc_alive(proc["pid"], proc["started"]):
                tail = (STATE_DIR / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited while waiting for {what}; log tail:\n{tail}")
        try:
            ok, last = check()
            if ok:
                return
        except (OSError, urllib.error.URLError, ssl.SSLError) as exc:
            last = str(exc)
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {what}: {last}")


def kubectl(
    state: dict[str, Any], *args: str, input_: str | None = None, check: bool = True
) -> str:
    """kubectl's stdout; on failure, exit with its error (or "" when check is False)."""
    res = subprocess.run(
        [str(Path(state["bin"]["cp"]) / "kubectl"), "--kubeconfig", state["kubeconfig"], *args],
        input=input_,
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0 and not check:
        return ""
    if res.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout


def node_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        },
    }


def up(nodes: int) -> None:
    state = load_state()
    if state and all(
        proc_alive(p["pid"], p["started"]) for n, p in state["procs"].items() if n in CORE
    ):
        code, _ = api_get(state, "/readyz")
        if code == 200:
            log(f"already running ({state['kubeconfig']})")
            ensure_nodes(state, nodes)
            if state.get("node") and not realnode.running(state):
                log("real node: some of its processes are gone; restarting it")
                realnode.down(state, stop_one, None, keep_address=True)
                realnode.up(state, start, lambda *a, **k: kubectl(state, *a, **k))
                save_state(state)
            return
    if state:
        down()
    for tool in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubectl"):
        if not (CP_BIN / tool).exists():
            raise SystemExit(f"missing {CP_BIN / tool}: run `make controlplane` first")
    if not (KWOK_BIN / "kwok").exists():
        raise SystemExit(f"missing {KWOK_BIN / 'kwok'}: run `make controlplane` first")

    STATE_DIR.mkdir(parents=True, exist_ok=True)
    for stale in ("etcd", "logs"):
        shutil.rmtree(STATE_DIR / stale, ignore_errors=True)
    pki = STATE_DIR / "pki"
    ensure_pki(pki)
    token = secrets.token_hex(24)
    ports = {k: free_port() for k in ("etcd", "etcd_peer", "apiserver", "kcm", "sched", "kwok")}
    kubeconfig = STATE_DIR / "kubeconfig"
    state = {
        "ports": ports,
        "token": token,
        "kubeconfig": str(kubeconfig),
        "bin": {"cp": str(CP_BIN), "kwok": str(KWOK_BIN)},
        "procs": {},
        "started": time.time(),
    }
    tokens = f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
    no_node = realnode.capable()
    if no_node is None:
        realnode.prepare(state)
        tokens += realnode.token_lines(state)
        # Pods reach the API server at the node address; loopback stays loopback.
        state["host"] = realnode.NODE_IP
    else:
        log(f"real node: {no_node}")
    (pki / "tokens.csv").write_text(tokens)
    save_state(state)
    write_kubeconfig(
        kubeconfig, f"https://{state.get('host', '127.0.0.1')}:{ports['apiserver']}", token
    )
    bin_dir = STATE_DIR / "bin"
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / "kubectl"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(CP_BIN / "kubectl")

    deadline = time.monotonic() + READY_DEADLINE
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd_peer']}"
    start(
        "etcd",
        [
            str(CP_BIN / "etcd"),
            "--name=mcpops",
            f"--data-dir={STATE_DIR / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=mcpops={peer_url}",
            "--unsafe-no-fsync=true",  # a throwaway test cluster; speed over durability
            "--quota-backend-bytes=4294967296",
            "--log-level=warn",
        ],
        state,
    )
    wait_for(
        "etcd",
        lambda: (urllib.request.urlopen(f"{etcd_url}/health", timeout=2).status == 200, ""),
        deadline,
        state,
    )
    start(
        "kube-apiserver",
        [
            str(CP_BIN / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'apiserver.crt'}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--allow-privileged=false",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--max-requests-inflight=1000",
            "--max-mutating-requests-inflight=500",
            "--event-ttl=1h",
            # Placement: a namespace annotation picks the real node (node selector and
            # toleration) for tests that run code; everything else stays on kwok nodes.
            "--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction",
            "--v=1",
            *(realnode.apiserver_flags() if "node" in state else []),
        ],
        state,
    )
    wait_for(
        "kube-apiserver /readyz",
        lambda: (api_get(state, "/readyz")[0] == 200, "not ready"),
        deadline,
        state,
    )
    start(
        "kube-controller-manager",
        [
            str(CP_BIN / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kcm']}",
            "--leader-elect=false",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'apiserver.crt'}",
            "--use-service-account-credentials=false",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--concurrent-deployment-syncs=20",
            "--concurrent-replicaset-syncs=20",
            "--concurrent-job-syncs=20",
            "--concurrent-gc-syncs=40",
            "--concurrent-service-endpoint-syncs=20",
            "--concurrent-namespace-syncs=10",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
            "--v=1",
        ],
        state,
    )
    sched_cfg = STATE_DIR / "scheduler.yaml"
    sched_cfg.write_text(
        json.dumps(
            {
                "apiVersion": "kubescheduler.config.k8s.io/v1",
                "kind": "KubeSchedulerConfiguration",
                "clientConnection": {"kubeconfig": str(kubeconfig), "qps": 200, "burst": 400},
                "leaderElection": {"leaderElect": False},
            }
        )
    )
    start(
        "kube-scheduler",
        [
            str(CP_BIN / "kube-scheduler"),
            f"--config={sched_cfg}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['sched']}",
            "--v=1",
        ],
        state,
    )
    start(
        "kwok",
        [
            str(KWOK_BIN / "kwok"),
            f"--kubeconfig={kubeconfig}",
            f"--config={STAGES}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--cidr=10.0.0.1/16",
            "--node-ip=10.1.0.1",
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ],
        state,
    )
    # The controller-manager creates the default ServiceAccount; pods need it.
    wait_for(
        "the default ServiceAccount",
        lambda: (
            api_get(state, "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
            "missing",
        ),
        deadline,
        state,
    )
    ensure_nodes(state, nodes)
    if "node" in state:
        realnode.up(state, start, lambda *a, **k: kubectl(state, *a, **k))
        save_state(state)
    elapsed = time.time() - state["started"]
    log(f"up in {elapsed:.1f}s; KUBECONFIG={kubeconfig}")


def ensure_nodes(state: dict[str, Any], nodes: int) -> None:
    manifests = {"apiVersion": "v1", "kind": "List", "items": []}
    existing = json.loads(api_get(state, "/api/v1/nodes")[1]).get("items", [])
    names = {n["metadata"]["name"] for n in existing}
    for i in range(nodes):
        name = f"kwok-node-{i}"
        if name not in names:
            manifests["items"].append(node_manifest(name))  # type: ignore[attr-defined]
    if manifests["items"]:
        kubectl(state, "create", "-f", "-", input_=json.dumps(manifests))

    def ready() -> tuple[bool, str]:
        items = json.loads(api_get(state, "/api/v1/nodes")[1]).get("items", [])
        ok = [
            n
            for n in items
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]
        return len(ok) >= nodes, f"{len(ok)}/{nodes} nodes Ready"

    wait_for("Ready nodes", ready, time.monotonic() + READY_DEADLINE, state)


def down() -> None:
    state = load_state()
    if not state:
        if realnode.NODE_DIR.exists():  # a crashed run left the machine changed: undo it
            realnode.teardown()
        log("not running")
        return
    if "node" in state or realnode.NODE_DIR.exists():
        apiserver = state["procs"].get("kube-apiserver")
        alive = apiserver is not None and proc_alive(apiserver["pid"], apiserver["started"])
        realnode.down(state, stop_one, (lambda *a, **k: kubectl(state, *a, **k)) if alive else None)
        save_state(state)
    # Reverse start order: clients before the apiserver, etcd last.
    for name in reversed(list(state["procs"])):
        proc = state["procs"][name]
        if proc_alive(proc["pid"], proc["started"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in state["procs"].values():
        stop_one(proc, deadline)
    state_file().unlink(missing_ok=True)
    shutil.rmtree(STATE_DIR / "etcd", ignore_errors=True)
    log("stopped")


def stop_one(proc: dict[str, Any], deadline: float) -> None:
    """SIGTERM, then SIGKILL at the deadline, and wait until it is gone."""
    if proc_alive(proc["pid"], proc["started"]):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc["pid"], signal.SIGTERM)
    while proc_alive(proc["pid"], proc["started"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc_alive(proc["pid"], proc["started"]):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc["pid"], signal.SIGKILL)
        while proc_alive(proc["pid"], proc["started"]):
            time.sleep(0.05)


def restart(name: str, down_seconds: float = 0.0) -> None:
    """Stop one component and start it again with the same argv (ports, flags, data dir).

    For fault tests: clients see connections drop and watches end, the data survives.
    """
    state = load_state()
    if not state:
        raise SystemExit("not running")
    proc = state["procs"].get(name)
    if proc is None or "argv" not in proc:
        raise SystemExit(f"cannot restart {name!r}: started by an older cluster.py or unknown")
    stop_one(proc, time.monotonic() + 15)
    log(f"{name} stopped")
    time.sleep(down_seconds)  # a chosen outage, not a wait for something
    start(name, proc["argv"], state)
    deadline = time.monotonic() + READY_DEADLINE
    if name == "etcd":
        url = f"http://127.0.0.1:{state['ports']['etcd']}/health"
        wait_for(
            "etcd", lambda: (urllib.request.urlopen(url, timeout=2).status == 200, ""), deadline,
            state,
        )  # fmt: skip
    # Whatever restarted, the cluster is back when the API server serves again (after an
    # etcd restart, /readyz reports the etcd check).
    wait_for(
        "kube-apiserver /readyz",
        lambda: (api_get(state, "/readyz")[0] == 200, "not ready"),
        deadline,
        state,
    )
    log(f"{name} restarted")


def status() -> int:
    state = load_state()
    if not state:
        print("down")
        return 1
    alive = {n: proc_alive(p["pid"], p["started"]) for n, p in state["procs"].items()}
    print(json.dumps({"kubeconfig": state["kubeconfig"], "processes": alive}, indent=2))
    return 0 if all(alive.get(n, False) for n in CORE) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("--nodes", type=int, default=int(os.environ.get("MCPOPS_NODES", "3")))
    sub.add_parser("down")
    sub.add_parser("status")
    p_stop = sub.add_parser("stop", help="stop one adopted process, e.g. operator-demo")
    p_stop.add_argument("name")
    p_restart = sub.add_parser("restart", help="stop and start one component, same flags")
    p_restart.add_argument("component", choices=CORE)
    p_restart.add_argument(
        "--down-seconds", type=float, default=0.0, help="how long it stays stopped"
    )
    args = parser.parse_args()
    if args.cmd == "stop":
        log(f"{args.name}: {'stopped' if stop_adopted(args.name) else 'not running'}")
        return 0
    if args.cmd == "up":
        up(args.nodes)
        return 0
    if args.cmd == "down":
        down()
        return 0
    if args.cmd == "restart":
        restart(args.component, args.down_seconds)
        return 0
    return status()


if __name__ == "__main__":
    sys.exit(main())
