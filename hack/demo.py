#!/usr/bin/env python3
"""`make demo`: the control plane, the CRDs, the operator, the examples, shown until Ready.

Uses the cluster that KUBECONFIG names when it is set and reachable; otherwise
brings up the project's local control plane. The operator runs as a local
process (its log: .cluster/logs/operator-demo.log) and keeps running after the
demo so you can keep playing; `make cluster-down` stops it with the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".cluster"
NAMESPACE = os.environ.get("MCPOPS_DEMO_NAMESPACE", "mcpops-demo")
DEADLINE = float(os.environ.get("MCPOPS_DEMO_TIMEOUT", "180"))


def say(msg: str) -> None:
    print(f"\n==> {msg}", flush=True)


def choose_cluster() -> tuple[str, str]:
    """(kubeconfig, kubectl) to use."""
    configured = os.environ.get("KUBECONFIG")
    kubectl = shutil.which("kubectl")
    if configured and kubectl:
        probe = subprocess.run(
            [kubectl, "--kubeconfig", configured, "get", "--raw", "/readyz"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if probe.returncode == 0:
            say(f"using the cluster in KUBECONFIG={configured}")
            return configured, kubectl
        say(f"KUBECONFIG={configured} is not reachable; using the local control plane")
    say("bringing up the local control plane (hack/cluster.py up)")
    subprocess.run([sys.executable, str(REPO / "hack" / "cluster.py"), "up"], check=True)
    return str(STATE / "kubeconfig"), str(STATE / "bin" / "kubectl")


def kubectl(kc: str, kubectl_bin: str, *args: str, check: bool = True) -> str:
    res = subprocess.run(
        [kubectl_bin, "--kubeconfig", kc, *args], capture_output=True, text=True, check=False
    )
    if check and res.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def start_operator(kc: str) -> int:
    pid_file = STATE / "operator-demo.pid"
    if pid_file.exists():
        try:
            old = int(pid_file.read_text())
            os.kill(old, signal.SIGTERM)
            time.sleep(1)
        except (ValueError, ProcessLookupError):
            pass
    (STATE / "logs").mkdir(parents=True, exist_ok=True)
    log = (STATE / "logs" / "operator-demo.log").open("ab")
    env = {**os.environ, "KUBECONFIG": kc, "MCPOPS_METRICS_HOST": "127.0.0.1"}
    env.setdefault("MCPOPS_METRICS_PORT", "18080")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcpops.cli", "run"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pid_file.write_text(str(proc.pid))
    # Let `make cluster-down` stop it together with the control plane.
    state_path = STATE / "state.json"
    if state_path.exists():
        state = json.loads(state_path.read_text())
        stat = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        state["procs"]["operator-demo"] = {
            "pid": proc.pid,
            "started": stat[19],
            "exe": sys.executable,
        }
        state_path.write_text(json.dumps(state, indent=2))
    return proc.pid


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def main() -> int:
    kc, kubectl_bin = choose_cluster()
    say("installing the CRDs (crds/)")
    print(
        kubectl(
            kc, kubectl_bin, "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds")
        )
    )
    kubectl(kc, kubectl_bin, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    say("starting the operator (log: .cluster/logs/operator-demo.log)")
    pid = start_operator(kc)
    port = os.environ.get("MCPOPS_METRICS_PORT", "18080")
    print(f"operator pid {pid}, metrics on http://127.0.0.1:{port}/metrics")
    say(f"applying examples/ into namespace {NAMESPACE} (restricted Pod Security)")
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    subprocess.run(
        [kubectl_bin, "--kubeconfig", kc, "apply", "-f", "-"],
        input=json.dumps(ns),
        text=True,
        check=True,
        capture_output=True,
    )
    print(kubectl(kc, kubectl_bin, "apply", "-n", NAMESPACE, "-f", str(REPO / "examples")))

    say("waiting for every example to become Ready")
    deadline = time.monotonic() + DEADLINE
    last = ""
    while True:
        items = json.loads(
            kubectl(kc, kubectl_bin, "get", "mcpops", "-n", NAMESPACE, "-o", "json")
        )["items"]
        pending = [
            o
            for o in items
            if conditions(o).get("Ready", {}).get("status") != "True"
            or (o.get("status") or {}).get("observedGeneration") != o["metadata"]["generation"]
        ]
        table = kubectl(kc, kubectl_bin, "get", "mcpops", "-n", NAMESPACE, "-o", "wide")
        if table != last:
            print(table, flush=True)
            last = table
        if items and not pending:
            say("all examples are Ready")
            print(kubectl(kc, kubectl_bin, "get", "deploy,svc", "-n", NAMESPACE))
            print(
                f"Try: {kubectl_bin} --kubeconfig {kc} describe mcps -n {NAMESPACE}\n"
                f"     {kubectl_bin} --kubeconfig {kc} explain mcpservers.spec"
            )
            return 0
        if time.monotonic() > deadline:
            say("not Ready in time; here is why:")
            for obj in pending:
                ready = conditions(obj).get("Ready", {})
                print(
                    f"  {obj['kind']}/{obj['metadata']['name']}: "
                    f"{ready.get('reason', 'no status yet')}: {ready.get('message', '')}"
                )
            print("operator log: .cluster/logs/operator-demo.log")
            return 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
