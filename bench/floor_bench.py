#!/usr/bin/env python3
"""mcpops against the floor: the least any operator must do here for the same work.

Usage::

    python bench/floor_bench.py --floor-bin PATH [--sizes 100,1000,10000]
                                [--steady-seconds 300] [--nodes 24] [--per-namespace 1000]
                                [--out bench/results]

The floor (bench/floor, Go: client-go shared informers, a rate-limited workqueue,
server-side apply) writes for each MCPServer exactly what mcpops writes for a plain
``spec: {image: ...}``: the same Deployment, Services, NetworkPolicy and session-key
Secret, the same final status and the same Events, with no decisions and no tests. What
it writes is not re-implemented: a **sample** run of mcpops (two servers) is dumped first,
the fields mcpops owns are extracted from each object's managedFields, and the name,
namespace, uid, revision and timestamps are turned into placeholders
(``<out>/floor-template.json``). Before any measurement the floor renders the two sample
servers from that template and the result must equal what mcpops wrote, content hashes
(``mcpops.dev/applied-hash``) included; the revision of each name comes from mcpops' own
``revision_of``.

Then, for each size, on one control plane: mcpops alone (fresh process, fresh namespaces),
then the floor alone (fresh process, fresh namespaces), N MCPServers created at once, in
namespaces of at most ``--per-namespace`` (as in scale_bench.py: one namespace of 10,000
would measure kube-controller-manager's per-namespace scans, not the operators).
Measured the same way for both: time from the first create until every MCPServer is
Ready (the Watcher's ``ready``: status written for its generation, Ready=True, which both
write only once the Deployment is available), API requests per server (each counts its
own at its HTTP client, from after its startup lists until it is quiet; reads and
writes apart), CPU seconds and peak RSS of the process (/proc), the p99 latency of a
``GET`` list of MCPServers (limit=500) sampled every second while creating, and writes per
minute at rest over ``--steady-seconds`` (largest size only, unless --steady-each).
Each run's namespaces are deleted, and gone, before the next run.

Writes ``<out>/floor.json`` and ``<out>/floor.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from scale_bench import (
    API,
    PER_NAMESPACE,
    WRITES,
    ProcStats,
    Watcher,
    create_all,
    delete_namespace,
    http_client,
    list_latency,
    load_summary,
    make_namespace,
    mcpserver,
    namespaces_of,
    p99,
    percentiles,
    placement,
    quiesce,
    ready,
    request,
    requests_total,
    restarted,
    run_header,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "cluster"))
from clusterkit import OperatorProcess, free_port, install_crds, local_cluster  # noqa: E402

from mcpops.api.mcpserver import MCPServerSpec  # noqa: E402
from mcpops.kinds.mcpserver import desired  # noqa: E402
from mcpops.settings import Settings  # noqa: E402

MCPOPS_METRIC = "mcpops_api_requests_total"
FLOOR_METRIC = "floor_api_requests_total"
HASH_ANNOTATION = "mcpops.dev/applied-hash"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
# Where children of an MCPServer can be (what mcpops writes for some spec).
CHILD_PATHS = (
    "/api/v1/namespaces/{ns}/secrets",
    "/api/v1/namespaces/{ns}/configmaps",
    "/api/v1/namespaces/{ns}/services",
    "/api/v1/namespaces/{ns}/serviceaccounts",
    "/apis/apps/v1/namespaces/{ns}/deployments",
    "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
    "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
)


def log(msg: str) -> None:
    print(f"[floor] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- what mcpops wrote


def owned(obj: Any, fields: Any) -> Any:
    """The part of `obj` that a managedFields entry (fieldsV1) says its manager set."""
    if not fields or set(fields) == {"."}:
        return obj
    if isinstance(obj, dict):
        return {
            k[2:]: owned(obj[k[2:]], sub)
            for k, sub in fields.items()
            if k.startswith("f:") and k[2:] in obj
        }
    if isinstance(obj, list):
        out = []
        for item in obj:
            for k, sub in fields.items():
                key = json.loads(k[2:]) if k[:2] in {"k:", "v:"} else None
                if k.startswith("k:") and all(item.get(a) == b for a, b in key.items()):
                    out.append(owned(item, sub))
                elif k.startswith("v:") and item == key:
                    out.append(item)
        return out
    return obj


def written_by_mcpops(obj: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """("Apply" | "Update", what mcpops wrote of `obj`), or None if it wrote nothing."""
    for entry in obj["metadata"].get("managedFields") or []:
        if entry["manager"] == "mcpops" and not entry.get("subresource"):
            body = owned(obj, entry["fieldsV1"])
            meta = body.setdefault("metadata", {})
            meta["name"] = obj["metadata"]["name"]
            meta["namespace"] = obj["metadata"]["namespace"]
            body["apiVersion"], body["kind"] = obj["apiVersion"], obj["kind"]
            return entry["operation"], body
    return None


def placeholders(value: Any, subst: list[tuple[str, str]], key: str = "") -> Any:
    """`value` with the per-server strings in `subst` (in order) made placeholders, times
    made {{NOW}} and observed generations {{GENERATION}}."""
    if isinstance(value, dict):
        return {k: placeholders(v, subst, k) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholders(v, subst, key) for v in value]
    if key == "observedGeneration" and isinstance(value, int):
        return "{{GENERATION}}"
    if isinstance(value, str):
        if TIMESTAMP.match(value):
            return "{{NOW}}"
        for old, new in subst:
            value = value.replace(old, new)
    return value


def by_kind_name(m: dict[str, Any]) -> tuple[str, str]:
    return m["kind"], m["metadata"]["name"]


def template_of(server: dict[str, Any], children: list[dict[str, Any]], events: list[Any]) -> Any:
    """The floor's template made from one server and what mcpops wrote for it."""
    meta, status = server["metadata"], server["status"]
    revision = status["activeRevision"]
    subst = [
        (meta["uid"], "{{UID}}"),
        (revision, "{{REVISION}}"),
        (meta["namespace"], "{{NAMESPACE}}"),
        (meta["name"], "{{NAME}}"),
    ]
    apply, create = [], []
    for child in children:
        op, body = child["op"], copy.deepcopy(child["body"])  # the dump stays as written
        notes = body["metadata"].get("annotations") or {}
        if HASH_ANNOTATION in notes:
            notes[HASH_ANNOTATION] = "{{HASH}}"
        if op == "Update" and body["kind"] == "Secret":
            # Created once with a random key (desired.session_secret): the floor makes its own.
            body["data"] = {k: "{{RANDOM32}}" for k in body.get("data") or {}}
        (apply if op == "Apply" else create).append(placeholders(body, subst))
    deployments = [m for m in apply if m["kind"] == "Deployment"]
    assert len(deployments) == 1, f"expected one Deployment, got {len(deployments)}"
    return {
        "apply": sorted(apply, key=by_kind_name),
        "create": sorted(create, key=by_kind_name),
        "status": placeholders(status, subst),
        "events": sorted((placeholders(e, subst) for e in events), key=lambda e: e["reason"]),
        "readyDeployment": deployments[0]["metadata"]["name"],
    }


async def dump_written(client: httpx.AsyncClient, namespace: str) -> dict[str, Any]:
    """Per sample server: the server, what mcpops wrote of its children, its Events."""
    servers = (await request(client, "GET", f"{API}/namespaces/{namespace}/mcpservers"))["items"]
    found: dict[str, Any] = {
        s["metadata"]["uid"]: {"server": s, "children": [], "events": []} for s in servers
    }
    for path in CHILD_PATHS:
        listed = await request(client, "GET", path.format(ns=namespace))
        for obj in listed["items"]:
            # A list's items carry no apiVersion and kind: the list's own say them.
            obj.update(apiVersion=listed["apiVersion"], kind=listed["kind"].removesuffix("List"))
            owners = [r["uid"] for r in obj["metadata"].get("ownerReferences") or []]
            written = written_by_mcpops(obj)
            for uid in owners:
                if uid in found and written:
                    notes = obj["metadata"].get("annotations") or {}
                    found[uid]["children"].append(
                        {"op": written[0], "body": written[1], "hash": notes.get(HASH_ANNOTATION)}
                    )
    for ev in (await request(client, "GET", f"/api/v1/namespaces/{namespace}/events"))["items"]:
        ev.update(apiVersion="v1", kind="Event")
        written = written_by_mcpops(ev)
        if ev["involvedObject"].get("uid") in found and written:
            body = written[1]
            # A generated name: the floor's Events are named by the API server too.
            body["metadata"].pop("name")
            found[ev["involvedObject"]["uid"]]["events"].append(body)
    return {v["server"]["metadata"]["name"]: v for v in found.values()}


def revisions(where: dict[str, str], settings: Settings) -> dict[str, str]:
    """Each bench server's revision (name -> namespace in `where`; names are unique over the
    run), from mcpops' own pod template hash."""
    spec = MCPServerSpec.model_validate(mcpserver("x")["spec"])
    return {
        name: desired.revision_of(
            name, spec, settings.operator_image, settings.proxy_image, namespace=namespace
        )
        for name, namespace in where.items()
    }


def render(floor_bin: str, template: Path, server: dict[str, Any], revision: str) -> Any:
    meta = server["metadata"]
    out = subprocess.run(
        [floor_bin, "render", "-template", str(template), "-name", meta["name"],
         "-namespace", meta["namespace"], "-uid", meta["uid"], "-revision", revision,
         "-generation", str(meta["generation"])],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def without_random(obj: Any) -> Any:
    """A Secret's random key (and so its content hash) differs by construction."""
    obj = copy.deepcopy(obj)
    obj["data"] = {k: "<random>" for k in obj.get("data") or {}}
    obj["metadata"].get("annotations", {}).pop(HASH_ANNOTATION, None)
    return obj


def check_rendering(floor_bin: str, template: Path, sample: dict[str, Any]) -> None:
    """The floor renders each sample server exactly as mcpops wrote it, or we stop here:
    every applied child with the content hash mcpops stamped on it (a hash of the whole
    manifest), the created ones equal but for the random key, the same status fields and
    the same Events."""
    settings = Settings.from_env()
    for name, got in sample.items():
        server = got["server"]
        ns = server["metadata"]["namespace"]
        revision = server["status"]["activeRevision"]
        ours = revisions(ns, len(sample), settings)[name]
        if ours != revision:
            raise SystemExit(f"revision_of({name}) = {ours}, but mcpops ran {revision}")
        out = render(floor_bin, template, server, revision)
        live = {by_kind_name(c["body"]): c for c in got["children"]}
        for m in out["apply"]:
            want = live.get(by_kind_name(m), {}).get("hash")
            have = m["metadata"]["annotations"][HASH_ANNOTATION]
            if have != want:
                raise SystemExit(f"the floor's {by_kind_name(m)} hashes {have}, mcpops' {want}")
        for m in out["create"]:
            if without_random(m) != without_random(live[by_kind_name(m)]["body"]):
                raise SystemExit(f"the floor's {by_kind_name(m)} differs from mcpops'")
        if len(out["apply"]) + len(out["create"]) != len(live):
            raise SystemExit(f"the floor writes other children than mcpops for {name}")
        shape = {json.dumps(placeholders(out["status"], []), sort_keys=True)}
        if shape != {json.dumps(placeholders(server["status"], []), sort_keys=True)}:
            raise SystemExit(f"the floor's status of {name} differs from mcpops'")
        if sorted(e["reason"] for e in out["events"]) != sorted(e["reason"] for e in got["events"]):
            raise SystemExit(f"the floor's Events for {name} differ from mcpops'")
    log(f"floor renders the {len(sample)} sample servers as mcpops wrote them")


def mcpops_deployment(server: dict[str, Any], replicas: int, settings: Settings) -> Any:
    """The Deployment mcpops applies for `server`, from its own pure functions: managedFields
    cannot give it back (empty lists and zeros are not fields; defaults fill atomic ones)."""
    meta = server["metadata"]
    spec = MCPServerSpec.model_validate(server["spec"])
    template = desired.pod_template(
        meta["name"],
        spec,
        settings.operator_image,
        proxy_image=settings.proxy_image,
        namespace=meta["namespace"],
    )
    record = desired.spec_record(spec, settings.operator_image, settings.proxy_image)
    return desired.deployment(
        server, template, desired.revision_for(template), replicas, record=record
    )


async def sample(
    client: httpx.AsyncClient, kubeconfig: str, floor_bin: str, out: Path, log_dir: Path
) -> Path:
    """Run mcpops on two servers, make the floor's template from what it wrote, check it."""
    namespace = f"floor-sample-{uuid.uuid4().hex[:6]}"
    await make_namespace(client, namespace)
    try:
        got = await sample_written(client, kubeconfig, namespace, log_dir)
        settings = Settings.from_env()
        for g in got.values():
            for child in g["children"]:
                if child["body"]["kind"] == "Deployment":
                    replicas = child["body"]["spec"]["replicas"]
                    child["body"] = mcpops_deployment(g["server"], replicas, settings)
        templates = [template_of(g["server"], g["children"], g["events"]) for g in got.values()]
        if any(t != templates[0] for t in templates):
            raise SystemExit("the sample servers' objects differ beyond name, uid and revision")
        path = out / "floor-template.json"
        path.write_text(json.dumps(templates[0], indent=1, sort_keys=True) + "\n")
        check_rendering(floor_bin, path, got)
    finally:
        # Left behind, its servers would be reconciled by every later run's process.
        await delete_namespace(client, namespace, within=300)
    return path


async def sample_written(
    client: httpx.AsyncClient, kubeconfig: str, namespace: str, log_dir: Path
) -> dict[str, Any]:
    """mcpops brings two servers to Ready and goes quiet (its Events, posted in the
    background, included); what it wrote (dump_written)."""
    op = OperatorProcess(kubeconfig, log_dir / "operator-sample.log")
    op.start()
    watcher = Watcher(client, namespace)
    try:
        watcher.start()
        watcher.mark("ready", ready)
        await create_all(client, placement(namespace, 2))
        await watcher.wait("ready", 2, within=120)
        await quiesce(op, quiet=3.0, within=60)
        return await dump_written(client, namespace)
    finally:
        await watcher.stop()
        op.stop()


# ---------------------------------------------------------------- the floor as a process


class FloorProcess(OperatorProcess):
    """bench/floor's binary, started and read like OperatorProcess (metrics, readyz, stop)."""

    def __init__(self, binary: str, template: Path, revisions: Path, **kw: Any) -> None:
        super().__init__(**kw)
        self.binary, self.template, self.revisions = binary, template, revisions

    def start(self) -> None:
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "run", "-kubeconfig", self.kubeconfig, "-template", str(self.template),
             "-revisions", str(self.revisions), "-metrics-addr", f"127.0.0.1:{self.port}"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        out.close()
        deadline = time.monotonic() + 60
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError("floor: no /readyz within 60s")
            time.sleep(0.2)


# ---------------------------------------------------------------- one run


def split(spent: dict[str, float], n: int) -> dict[str, Any]:
    reads = {k: v for k, v in spent.items() if k.split()[0] not in WRITES}
    writes = {k: v for k, v in spent.items() if k.split()[0] in WRITES}
    return {
        "api_requests_per_server": round(sum(spent.values()) / n, 2),
        "reads_per_server": round(sum(reads.values()) / n, 2),
        "writes_per_server": round(sum(writes.values()) / n, 2),
        "by_kind_per_server": {k: round(v / n, 3) for k, v in sorted(spent.items())},
    }


async def measure(
    client: httpx.AsyncClient, proc: OperatorProcess, metric: str, where: dict[str, str],
    steady_seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """Create N at once (`where`: name -> namespace) with `proc` running; one row's numbers."""
    assert proc.proc is not None
    n, spaces = len(where), namespaces_of(where)
    stats = ProcStats(proc.proc.pid)
    await quiesce(proc, quiet=2.0, within=30, metric=metric)
    before, cpu0 = requests_total(proc, metric), stats.cpu()
    result: dict[str, Any] = {
        "startup": {
            "cpu_seconds": round(cpu0, 2),
            **stats.mem_mib(),
            # Its startup lists and watches (not in the per-server counts below).
            "api_requests": {k: v for k, v in sorted(before.items()) if v},
        }
    }
    watcher = Watcher(client, *spaces)
    latencies: list[float] = []
    sampler = asyncio.create_task(list_latency(client, spaces[0], latencies))
    try:
        watcher.start()
        watcher.mark("ready", ready)
        t0 = time.monotonic()
        sent = await create_all(client, where)
        created = time.monotonic() - t0
        await watcher.wait("ready", n, within=max(300.0, n * 0.6))
        t_ready = watcher.first["ready"]
        total = max(t_ready.values()) - t0
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        await watcher.stop()
    await quiesce(proc, metric=metric)
    spent = {k: v for k, v in diffs(requests_total(proc, metric), before).items() if v}
    cpu = stats.cpu() - cpu0
    result["create"] = {
        "create_seconds": round(created, 2),
        "total_seconds": round(total, 2),
        "time_to_ready_seconds": percentiles([t_ready[k] - sent[k] for k in sent]),
        **split(spent, n),
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_server": round(cpu / n * 1000, 2),
        "peak_rss_mib": round(stats.mem_mib()["VmHWM"], 1),
        "list_p99_ms": p99(latencies),
        "list_samples": len(latencies),
    }
    if steady_seconds > 0:
        log(f"{n}: at rest for {steady_seconds:.0f}s")
        r0, c0 = requests_total(proc, metric), stats.cpu()
        await asyncio.sleep(steady_seconds)  # the measurement window itself
        rest = diffs(requests_total(proc, metric), r0)
        minutes = steady_seconds / 60
        result["steady"] = {
            "seconds": steady_seconds,
            "writes_per_minute": round(
                sum(v for k, v in rest.items() if k.split()[0] in WRITES) / minutes, 2
            ),
            "requests_per_minute": round(sum(rest.values()) / minutes, 2),
            "cpu_percent": round((stats.cpu() - c0) / steady_seconds * 100, 2),
        }
    return result


def diffs(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


async def run_one(
    client: httpx.AsyncClient,
    who: str,
    n: int,
    start: Any,
    metric: str,
    steady: float,
    per_namespace: int = PER_NAMESPACE,
) -> dict[str, Any]:
    """One implementation at one size: fresh namespaces (at most `per_namespace` servers
    each, as in scale_bench), a fresh process, then all of them gone."""
    where = placement(f"floor-{who}-{n}-{uuid.uuid4().hex[:6]}", n, per_namespace)
    spaces = namespaces_of(where)
    for namespace in spaces:
        await make_namespace(client, namespace)
    proc = start(where)
    try:
        log(f"{who} {n}: creating in {len(spaces)} namespace(s)")
        result = await measure(client, proc, metric, where, steady)
        log(f"{who} {n}: {json.dumps(result)}")
        if steady > 0:
            proc.stop()
            proc = start(where)
            result["restart"] = await restarted(proc, metric, n)
            log(f"{who} {n}: restart {json.dumps(result['restart'])}")
    finally:
        proc.stop()
        log(f"{who} {n}: deleting {len(spaces)} namespace(s)")
        within = max(600.0, n * 0.5)
        gone = await asyncio.gather(*(delete_namespace(client, ns, within) for ns in spaces))
    return {**result, "namespaces": spaces, "cleanup_seconds": round(max(gone), 1)}


# ---------------------------------------------------------------- report

ROWS = (
    ("time to all Ready (s)", "create", "total_seconds"),
    ("API requests / server", "create", "api_requests_per_server"),
    ("  reads (list, watch, get) / server", "create", "reads_per_server"),
    ("  writes / server", "create", "writes_per_server"),
    ("CPU ms / server", "create", "cpu_ms_per_server"),
    ("peak RSS (MiB)", "create", "peak_rss_mib"),
    ("writes/min at rest", "steady", "writes_per_minute"),
    ("list MCPServers p99 (ms)", "create", "list_p99_ms"),
    ("restart: writes over existing servers", "restart", "writes"),
    ("restart: seconds until quiet", "restart", "seconds_to_quiet"),
    ("restart: CPU s", "restart", "cpu_seconds"),
    ("restart: peak RSS (MiB)", "restart", "peak_rss_mib"),
)


def ratio(a: Any, b: Any) -> str:
    if a is None or b is None:
        return "-"
    if b == 0:
        return "-" if a == 0 else "inf"
    return f"{a / b:.2f}"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# mcpops against the floor",
        "",
        f"Run {report['started']} on {report['machine']['cpus']} CPUs; load average before "
        f"{report['load_before']}, after {report['load_after']}. One local control plane "
        f"(kwok, {report['nodes']} simulated nodes), mcpops and the floor one at a time, "
        "each on a fresh process and namespace. The floor (bench/floor) writes, per "
        "MCPServer, the objects, status and Events mcpops wrote for a sample server "
        "(`floor-template.json`, checked equal before measuring), with client-go informers, "
        "a workqueue and server-side apply, and nothing else: the ratio is what mcpops "
        "costs above the least this work can cost here.",
        "",
        "| MCPServers | measure | mcpops | floor | mcpops / floor |",
        "|---:|---|---:|---:|---:|",
    ]
    for size in report["sizes"]:
        for label, phase, key in ROWS:
            a = (size["mcpops"].get(phase) or {}).get(key)
            b = (size["floor"].get(phase) or {}).get(key)
            if a is None and b is None:
                continue
            lines.append(
                f"| {size['size']} | {label} | {a if a is not None else '-'} | "
                f"{b if b is not None else '-'} | {ratio(a, b)} |"
            )
    lines += [
        "",
        "## Per-server cost from the smallest to the largest size",
        "",
        "| MCPServers | mcpops CPU ms / server | floor CPU ms / server | mcpops ms to Ready / "
        "server | floor ms to Ready / server | mcpops requests / server | floor requests / "
        "server |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in report["sizes"]:
        m, f, n = size["mcpops"]["create"], size["floor"]["create"], size["size"]
        lines.append(
            f"| {n} | {m['cpu_ms_per_server']} | {f['cpu_ms_per_server']} | "
            f"{round(m['total_seconds'] / n * 1000, 1)} | {round(f['total_seconds'] / n * 1000, 1)}"
            f" | {m['api_requests_per_server']} | {f['api_requests_per_server']} |"
        )
    largest = report["sizes"][-1] if report["sizes"] else None
    if largest:
        lines += ["", f"## Requests per server by kind ({largest['size']} MCPServers)", ""]
        for who in ("mcpops", "floor"):
            kinds = largest[who]["create"]["by_kind_per_server"]
            lines.append(f"- {who}: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    if report.get("notes"):
        lines += ["", "## Notes", "", *[f"- {n}" for n in report["notes"]]]
    return "\n".join(lines) + "\n"


NOTES = [
    "Ready is the same predicate for both (status.observedGeneration = generation and "
    "Ready=True), and both write it only once the Deployment is available.",
    "The floor writes each child once and the status once (the final one); mcpops writes "
    "a first status before the Deployment is available and the stable Service again at the "
    "switch: that is part of what the ratio shows. The floor posts the same Events (same "
    "reasons, same messages), after its status write, in the background like mcpops.",
    "Requests are counted by each process at its own HTTP client, every request included "
    "(lists, watches, gets, writes, Events), from after its startup lists until it is quiet.",
    "Time to Ready includes the control plane's own work (ReplicaSets, pods, endpoints: "
    "kube-controller-manager at 200 requests/s, hack/cluster.py): at large sizes it bounds "
    "the floor's time, which is the point of measuring against it.",
]


async def main_async(args: argparse.Namespace, kubeconfig: str) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    out, log_dir = Path(args.out), Path(args.log_dir)
    report = {**run_header(args.nodes), "notes": [*NOTES, *args.note]}
    settings = Settings.from_env()
    async with http_client(kubeconfig) as client:
        template = await sample(client, kubeconfig, args.floor_bin, out, log_dir)
        for n in sizes:
            steady = args.steady_seconds if (args.steady_each or n == max(sizes)) else 0.0

            def start_mcpops(_where: dict[str, str], n: int = n) -> OperatorProcess:
                op = OperatorProcess(kubeconfig, log_dir / f"operator-{n}.log")
                op.start()
                return op

            def start_floor(where: dict[str, str], n: int = n) -> OperatorProcess:
                revs = log_dir / f"revisions-{n}.json"
                revs.write_text(json.dumps(revisions(where, settings)))
                fp = FloorProcess(
                    args.floor_bin, template, revs,
                    kubeconfig=kubeconfig, log_path=log_dir / f"floor-{n}.log",
                )  # fmt: skip
                fp.start()
                return fp

            row = {"size": n}
            each = (MCPOPS_METRIC, steady, args.per_namespace)
            row["mcpops"] = await run_one(client, "mcpops", n, start_mcpops, *each)
            row["floor"] = await run_one(client, "floor", n, start_floor, FLOOR_METRIC, *each[1:])
            report["sizes"].append(row)
            write(report, out)  # a partial report survives a later size's failure
    report["load_after"] = load_summary()
    return report


def write(report: dict[str, Any], out: Path) -> None:
    report.setdefault("load_after", load_summary())
    (out / "floor.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "floor.md").write_text(markdown(report))


def estimate(sizes: list[int], steady: float, each: bool) -> float:
    """Rough minutes on 2 cores: per server about 0.1 s for mcpops to bring it Ready (measured
    at 1,000), 0.04 s for the floor, 0.12 s to delete each of the two namespaces' objects
    (the least known: garbage collection of ~10 objects per server); plus the windows at
    rest and a minute of fixed cost per run."""
    per_server = 0.1 + 0.04 + 2 * 0.12
    rest = steady * 2 * (len(sizes) if each else 1)
    return (sum(sizes) * per_server + rest + 120 * len(sizes) + 60) / 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--floor-bin", required=True, help="bench/floor's binary (make builds it)")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--steady-seconds", type=float, default=300.0)
    parser.add_argument("--steady-each", action="store_true", help="at rest after every size")
    # kwok nodes hold 1,000 pods each (hack/cluster.py): 12 leave room for 10,000 servers.
    # Each simulated node offers 64 CPUs and 1,000 pods; a server's pod asks 0.11 CPU, so
    # 10,000 servers need 18 nodes.
    parser.add_argument("--nodes", type=int, default=24)
    parser.add_argument("--per-namespace", type=int, default=PER_NAMESPACE)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--log-dir", default="/tmp/mcpops-floor-bench")
    parser.add_argument("--note", action="append", default=[], help="a line for the report")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    log(f"about {estimate(sizes, args.steady_seconds, args.steady_each):.0f} minutes")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    with local_cluster(nodes=args.nodes) as cluster:
        install_crds(cluster)
        report = asyncio.run(main_async(args, cluster.kubeconfig))
    write(report, Path(args.out))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
