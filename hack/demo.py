#!/usr/bin/env python3
"""`make demo`: the control plane, the CRDs, the operator, the examples, shown until Ready.

Uses the cluster that KUBECONFIG names when it is set and reachable; otherwise
brings up the project's local control plane. The operator runs as a local
process (its log: .cluster/logs/operator-demo.log) and keeps running after the
demo so you can keep playing; `make cluster-down` stops it with the rest.

Where the local cluster has its real node (root, `make node`, `make images`: the default
on a machine that can), the demo's namespace is placed on it: the MCP servers, the bridge,
the health sidecars, the test runner Jobs and the solver pods run as real containers, and the
demo ends with a real MCP tool call through the stable Service, a tested update and a refused
broken one (hack/demo_rollout.py). MCPOPS_DEMO_SIMULATED=1 uses the simulated nodes instead.

On simulated nodes, OptimizationJob pods run no code, so the solver pod would "succeed"
without a result (and the operator would rightly report NoResult). The demo therefore does
what the solver pod would: it runs the real solver runtime (mcpops-solver, OR-Tools) locally
on each example's inline model, with the pod's own arguments, and applies the result
ConfigMaps it writes (owned by the OptimizationJob). The status you see is the real solve's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cluster  # hack/cluster.py, beside this file
import demo_rollout  # hack/demo_rollout.py
import images  # hack/images.py: the references of the locally built images
import realnode  # hack/realnode.py: the real node's name, label and taint

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


def kubectl(
    kc: str, kubectl_bin: str, *args: str, check: bool = True, input_: str | None = None
) -> str:
    res = subprocess.run(
        [kubectl_bin, "--kubeconfig", kc, *args],
        capture_output=True,
        text=True,
        check=False,
        input=input_,
    )
    if check and res.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def real_node_ready(kc: str, kubectl_bin: str) -> bool:
    """The local cluster's real node is there and Ready (and the demo may use it)."""
    if os.environ.get("MCPOPS_DEMO_SIMULATED") == "1":
        return False
    out = kubectl(kc, kubectl_bin, "get", "node", realnode.NODE_NAME, "-o", "json", check=False)
    conds = json.loads(out).get("status", {}).get("conditions", []) if out else []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def image_tags() -> dict[str, str]:
    base = images.BASE.key()
    return images.tags(images.resolve(images.ROOT, images.IMAGES_DIR, base), base)


def real_tool_call(kc: str, kubectl_bin: str) -> None:
    """A real MCP client (the SDK) calls the time server through its stable Service."""
    import anyio
    from mcp import Client

    svc = json.loads(kubectl(kc, kubectl_bin, "get", "svc", "time", "-n", NAMESPACE, "-o", "json"))
    url = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}/mcp"
    args = {"timezone": "Europe/Paris"}

    async def go() -> str:
        async with Client(url) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            print(f"  tools/list -> {tools}")
            print(f"  tools/call get_current_time {json.dumps(args)}")
            result = await client.call_tool("get_current_time", args)
            return "\n".join(getattr(c, "text", "") for c in result.content)

    say(f"a real MCP tool call through Service time ({url}), from this machine")
    print(f"  -> {anyio.run(go)}")


def start_operator(kc: str, env_extra: dict[str, str] | None = None) -> int:
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
    env = {**os.environ, **(env_extra or {}), "KUBECONFIG": kc, "MCPOPS_METRICS_HOST": "127.0.0.1"}
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
    cluster.adopt("operator-demo", proc.pid)
    return proc.pid


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def done(obj: dict[str, Any]) -> bool:
    """Ready, as of the latest spec; an OptimizationJob is done once it Succeeded."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return False
    if obj["kind"] == "OptimizationJob":
        return bool(status.get("phase") == "Succeeded")
    return bool(conditions(obj).get("Ready", {}).get("status") == "True")


def failed(obj: dict[str, Any]) -> bool:
    """Finished without success: waiting longer will not help."""
    return obj["kind"] == "OptimizationJob" and (obj.get("status") or {}).get("phase") == "Failed"


def solve_like_the_pod(kc: str, kubectl_bin: str) -> None:
    """Run the solver runtime locally for each OptimizationJob with an inline model and apply
    the result ConfigMaps it writes, as the (here simulated) solver pod would."""
    sys.path.insert(0, str(REPO / "operator"))
    from mcpops.api.optimizationjob import OptimizationJobSpec
    from mcpops.kinds.optimizationjob.desired import Layout, solver_args

    items = json.loads(
        kubectl(kc, kubectl_bin, "get", "optimizationjobs", "-n", NAMESPACE, "-o", "json")
    )["items"]
    for obj in items:
        name = obj["metadata"]["name"]
        if (obj.get("status") or {}).get("phase") in {"Succeeded", "Failed"}:
            continue
        spec = OptimizationJobSpec.model_validate(obj["spec"])
        if spec.model is None or spec.scenarios or spec.sampling:
            print(f"  {name}: not an inline single model; its simulated pod leaves no result")
            continue
        with tempfile.TemporaryDirectory(prefix="mcpops-demo-") as tmp:
            model = Path(tmp) / "model.json"
            model.write_text(json.dumps(spec.model.model_dump(by_alias=True, exclude_none=True)))
            args = solver_args(spec, Layout(str(model), "json", None, 0))
            if "--threads" not in args:
                args += ["--threads", "1"]  # the pod's default CPU limit
            env = {
                **os.environ,
                "MCPOPS_OWNER_UID": obj["metadata"]["uid"],
                "MCPOPS_OWNER_NAME": name,
            }
            out = Path(tmp) / "out"
            run = subprocess.run(
                [sys.executable, "-m", "mcpops_solver.cli", *args, "--name", name,
                 "--namespace", NAMESPACE, "--output-dir", str(out),
                 "--termination-log", str(Path(tmp) / "termination-log"),
                 "--log-level", "WARNING"],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if not out.is_dir():
                print(f"  {name}: the solver runtime wrote no result: {run.stderr.strip()[-500:]}")
                continue
            summary = json.loads(run.stdout.strip().splitlines()[-1])
            print(
                f"  {name}: {summary.get('status')} objective {summary.get('objective')} "
                f"by {summary.get('solver')} (solved locally by mcpops-solver)"
            )
            print(kubectl(kc, kubectl_bin, "apply", "-n", NAMESPACE, "-f", str(out)), end="")


def scratch_configmaps(kc: str, kubectl_bin: str) -> None:
    """Something for the CleanupPolicy example to find: two stale scratch ConfigMaps, one of
    them protected, and a fresh one."""
    yesterday = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for name, since, protected in (
        ("scratch-old", yesterday, False),
        ("scratch-kept", yesterday, True),
        ("scratch-new", now, False),
    ):
        labels = {"demo.mcpops.dev/scratch": "true"}
        if protected:
            labels["mcpops.dev/protected"] = "true"
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": labels,
                "annotations": {"demo.mcpops.dev/scratch-since": since},
            },
        }
        kubectl(kc, kubectl_bin, "apply", "-f", "-", input_=json.dumps(cm))


def show_cleanup(kc: str, kubectl_bin: str) -> None:
    """What the DryRun CleanupPolicies would delete (their status lists it)."""
    items = json.loads(
        kubectl(kc, kubectl_bin, "get", "cleanuppolicies", "-n", NAMESPACE, "-o", "json")
    )["items"]
    for pol in items:
        st = pol.get("status") or {}
        run = st.get("lastRun") or {}
        say(
            f"CleanupPolicy {pol['metadata']['name']} ({pol['spec'].get('mode', 'DryRun')}): "
            f"{run.get('candidates', 0)} of {run.get('matched', 0)} matched objects would be "
            f"deleted, {run.get('protected', 0)} protected; next run {st.get('nextRunTime')}"
        )
        for c in st.get("candidates") or []:
            print(f"  would delete {c['kind']}/{c['name']} (rule {c['rule']}, age {c['age']})")


def main() -> int:
    kc, kubectl_bin = choose_cluster()
    say("installing the CRDs (crds/)")
    print(
        kubectl(
            kc, kubectl_bin, "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds")
        )
    )
    kubectl(kc, kubectl_bin, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    real = real_node_ready(kc, kubectl_bin)
    tags = image_tags() if real else {}
    say("starting the operator (log: .cluster/logs/operator-demo.log)")
    # On the real node, the pods it creates carry the locally built images.
    pid = start_operator(
        kc, {"MCPOPS_IMAGE": tags["mcpops"], "MCPOPS_SOLVER_IMAGE": tags["mcpops-solver"],
             "MCPOPS_PROXY_IMAGE": tags["mcpops-proxy"]}
        if real else None,
    )  # fmt: skip
    port = os.environ.get("MCPOPS_METRICS_PORT", "18080")
    print(f"operator pid {pid}, metrics on http://127.0.0.1:{port}/metrics")
    where = f"the real node {realnode.NODE_NAME}" if real else "simulated (kwok) nodes"
    say(f"applying examples/ into namespace {NAMESPACE} (restricted Pod Security), on {where}")
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            "annotations": realnode.placement_annotations() if real else {},
        },
    }
    subprocess.run(
        [kubectl_bin, "--kubeconfig", kc, "apply", "-f", "-"],
        input=json.dumps(ns),
        text=True,
        check=True,
        capture_output=True,
    )
    scratch_configmaps(kc, kubectl_bin)
    print(kubectl(kc, kubectl_bin, "apply", "-n", NAMESPACE, "-f", str(REPO / "examples")))
    if not real:
        say("solving the OptimizationJob examples with the real solver runtime (simulated pods)")
        solve_like_the_pod(kc, kubectl_bin)

    say("waiting for every example to become Ready")
    deadline = time.monotonic() + DEADLINE * (2 if real else 1)
    last = ""
    while True:
        items = json.loads(
            kubectl(kc, kubectl_bin, "get", "mcpops", "-n", NAMESPACE, "-o", "json")
        )["items"]
        pending = [o for o in items if not done(o)]
        table = kubectl(kc, kubectl_bin, "get", "mcpops", "-n", NAMESPACE, "-o", "wide")
        if table != last:
            print(table, flush=True)
            last = table
        if items and not pending:
            say("all examples are Ready")
            print(kubectl(kc, kubectl_bin, "get", "deploy,svc,jobs,configmaps", "-n", NAMESPACE))
            show_cleanup(kc, kubectl_bin)
            print(
                f"Try: {kubectl_bin} --kubeconfig {kc} describe mosrv -n {NAMESPACE}\n"
                f"     {kubectl_bin} --kubeconfig {kc} describe optjob -n {NAMESPACE}\n"
                f"     {kubectl_bin} --kubeconfig {kc} get cm production-plan-result "
                f"-n {NAMESPACE} -o jsonpath='{{.data.solution\\.json}}'\n"
                f"     {kubectl_bin} --kubeconfig {kc} describe moclean housekeeping "
                f"-n {NAMESPACE}\n"
                f"     {kubectl_bin} --kubeconfig {kc} explain mcpservers.spec"
            )
            if real:
                real_tool_call(kc, kubectl_bin)
            return demo_rollout.run(
                lambda *a, input_=None: kubectl(kc, kubectl_bin, *a, input_=input_),
                NAMESPACE,
                say,
                demo_rollout.real_plan(tags["mcp-python"], tags["mcp-node"]) if real else None,
            )
        broken = [o for o in pending if failed(o)]
        if broken or time.monotonic() > deadline:
            say("an example failed:" if broken else "not Ready in time; here is why:")
            for obj in broken or pending:
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
