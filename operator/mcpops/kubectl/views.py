"""What `kubectl mcpops` prints. Pure: objects in, text out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mcpops.objects.bodies import Body
from mcpops.objects.timestamps import parse_time


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """kubectl-style columns: upper-case headers, left-aligned, three spaces apart."""
    cells = [[str(h).upper() for h in headers]] + [
        ["<none>" if v is None or v == "" else str(v) for v in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def condition(obj: Body, type_: str) -> Body:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return {}


def age(timestamp: str | None, now: datetime) -> str:
    """kubectl's short age: 45s, 12m, 3h, 2d."""
    then = parse_time(timestamp)
    if then is None:
        return ""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _where(obj: Body, all_namespaces: bool) -> list[str]:
    meta = obj["metadata"]
    return [meta.get("namespace", ""), meta["name"]] if all_namespaces else [meta["name"]]


def tests_summary(status: Body) -> str:
    """ "2/2 passed", "1/2 failed", or "" when no suite ran."""
    suites = status.get("tests") or []
    if not suites:
        return ""
    results = [s.get("result", "") for s in suites]
    passed = results.count("Passed")
    if "Failed" in results:
        return f"{results.count('Failed')}/{len(results)} failed"
    if passed == len(results):
        return f"{passed}/{len(results)} passed"
    return f"{passed}/{len(results)} passed, {len(results) - passed} running"


def attention(server: Body) -> str | None:
    """One line for a server that waits for a person or failed, else None."""
    st = server.get("status") or {}
    name = server["metadata"]["name"]
    phase = st.get("phase")
    if phase == "Promoting":
        rev = st.get("candidateRevision")
        return f"{name}: revision {rev} passed its tests; `kubectl mcpops promote {name}`"
    if phase == "Paused":
        return f"{name}: rollout paused (annotation mcpops.dev/paused=true)"
    refs = condition(server, "ReferencesResolved")
    if refs.get("status") == "False":
        return f"{name}: new revision waits: {refs.get('message')}"
    degraded = condition(server, "Degraded")
    if degraded.get("status") == "True" or phase in {"Degraded", "Failed"}:
        return f"{name}: {degraded.get('message') or phase}"
    return None


def mcpservers(items: list[Body], now: datetime, all_namespaces: bool) -> str:
    rows = []
    for obj in items:
        st = obj.get("status") or {}
        ready = f"{st.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}"
        rows.append(
            [
                *_where(obj, all_namespaces),
                st.get("phase", "Unknown"),
                ready,
                st.get("activeRevision"),
                st.get("candidateRevision"),
                st.get("failedRevision"),
                tests_summary(st),
                age(obj["metadata"].get("creationTimestamp"), now),
            ]
        )
    headers = ["phase", "ready", "active", "candidate", "failed", "tests", "age"]
    return table((["namespace"] if all_namespaces else []) + ["name", *headers], rows)


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else ""


def optimizationjobs(items: list[Body], now: datetime, all_namespaces: bool) -> str:
    rows = []
    for obj in items:
        st = obj.get("status") or {}
        live = st.get("progress") or {}  # a running solve: its incumbent and gap so far
        rows.append(
            [
                *_where(obj, all_namespaces),
                st.get("phase", "Pending"),
                st.get("solver"),
                st.get("solverStatus"),
                _num(st.get("objective", live.get("objective"))),
                _num(st.get("gap", live.get("gap"))),
                _num(st.get("solveSeconds")),
                age(obj["metadata"].get("creationTimestamp"), now),
            ]
        )
    headers = ["phase", "solver", "status", "objective", "gap", "seconds", "age"]
    return table((["namespace"] if all_namespaces else []) + ["name", *headers], rows)


def cleanuppolicies(items: list[Body], now: datetime, all_namespaces: bool) -> str:
    rows = []
    for obj in items:
        st = obj.get("status") or {}
        last = st.get("lastRun") or {}
        blocked = condition(obj, "Blocked").get("status") == "True"
        rows.append(
            [
                *_where(obj, all_namespaces),
                (obj.get("spec") or {}).get("mode", ""),
                (age(st.get("lastRunTime"), now) + " ago") if st.get("lastRunTime") else "never",
                last.get("candidates", ""),
                last.get("deleted", ""),
                "yes" if blocked else "no",
                condition(obj, "Ready").get("status", "Unknown"),
            ]
        )
    headers = ["mode", "last run", "candidates", "deleted", "blocked", "ready"]
    return table((["namespace"] if all_namespaces else []) + ["name", *headers], rows)


def fleet(
    servers: list[Body],
    jobs: list[Body],
    policies: list[Body] | None,
    now: datetime | None = None,
    all_namespaces: bool = False,
) -> str:
    """The `status` view: one section per kind, then what needs a person."""
    now = now or datetime.now(UTC)
    parts = []
    parts.append("MCPServers\n" + (mcpservers(servers, now, all_namespaces) if servers else "none"))
    body = optimizationjobs(jobs, now, all_namespaces) if jobs else "none"
    parts.append("OptimizationJobs\n" + body)
    if policies is not None:  # None: the CleanupPolicy CRD is not installed
        body = cleanuppolicies(policies, now, all_namespaces) if policies else "none"
        parts.append("CleanupPolicies\n" + body)
    notes = [n for n in (attention(s) for s in servers) if n]
    notes += [
        f"{p['metadata']['name']}: cleanup blocked: {condition(p, 'Blocked').get('message', '')}"
        for p in policies or []
        if condition(p, "Blocked").get("status") == "True"
    ]
    if notes:
        parts.append("Needs attention\n" + "\n".join(f"  {n}" for n in notes))
    return "\n\n".join(parts) + "\n"


def tests(server: Body) -> str:
    """The `tests` view: the last result of each suite, and its failure messages."""
    st = server.get("status") or {}
    suites = st.get("tests") or []
    name = server["metadata"]["name"]
    if not suites:
        return f"{name}: no test results yet\n"
    rows = [
        [
            s.get("suite"),
            s.get("revision"),
            s.get("result"),
            s.get("passed", 0),
            s.get("failed", 0),
            s.get("skipped", 0),
            f"{s['durationSeconds']:g}s" if s.get("durationSeconds") is not None else "",
            s.get("job"),
        ]
        for s in suites
    ]
    headers = ["suite", "revision", "result", "passed", "failed", "skipped", "duration", "job"]
    out = [table(headers, rows)]
    for s in suites:
        for message in s.get("messages") or []:
            out.append(f"  {s.get('suite')}: {message}")
    tp = condition(server, "TestsPassed")
    if tp:
        out.append(f"TestsPassed={tp.get('status')} ({tp.get('reason', '')})")
    return "\n".join(out) + "\n"


def result(job: Body, solution: Body | None) -> str:
    """The `result` view of an OptimizationJob: the outcome, then the solution's values."""
    st = job.get("status") or {}
    name = job["metadata"]["name"]
    lines = [f"{name}: {st.get('phase', 'Pending')}"]
    for label, key in (
        ("solver", "solver"),
        ("status", "solverStatus"),
        ("objective", "objective"),
        ("bound", "bound"),
        ("gap", "gap"),
        ("seconds", "solveSeconds"),
        ("result", "resultConfigMap"),
    ):
        if st.get(key) is not None:
            value = _num(st[key]) if isinstance(st[key], int | float) else st[key]
            lines.append(f"  {label + ':':<11}{value}")
    progress = st.get("progress")
    if progress:
        so_far = ", ".join(f"{k} {_num(v) or v}" for k, v in progress.items())
        lines.append(f"  {'so far:':<11}{so_far}")
    if st.get("message"):
        lines.append(f"  {'message:':<11}{st['message']}")
    scenarios = st.get("scenarios")
    if scenarios:
        lines.append(f"  {'scenarios:':<11}{json.dumps(scenarios, sort_keys=True)}")
    if solution is None:
        if st.get("solutionStored") is False:
            lines.append("solution not stored (too large); see the message above")
        elif st.get("phase") in {"Succeeded", "Failed", "Cancelled"}:
            lines.append("no solution")
        return "\n".join(lines) + "\n"
    values = solution.get("values") or {}
    duals = solution.get("duals") or {}
    reduced = solution.get("reducedCosts") or {}
    lines.append("")
    if reduced:
        rows = [[k, _num(v), _num(reduced.get(k))] for k, v in values.items()]
        lines.append(table(["variable", "value", "reduced cost"], rows))
    else:
        lines.append(table(["variable", "value"], [[k, _num(v)] for k, v in values.items()]))
    if duals:
        lines.append("")
        lines.append(table(["constraint", "dual"], [[k, _num(v)] for k, v in duals.items()]))
    return "\n".join(lines) + "\n"


def solver_log(text: str) -> str:
    """The solver pod's JSON log lines for a person: the solver's own output as it wrote
    it, progress lines as one sentence, the runtime's other events with their fields."""
    out = []
    for raw in text.splitlines():
        try:
            doc = json.loads(raw)
        except ValueError:
            out.append(raw)  # native output of a solver library
            continue
        if not isinstance(doc, dict):
            out.append(raw)
            continue
        event = doc.pop("event", "")
        when = str(doc.pop("timestamp", ""))[11:19]
        for noise in ("logger", "job", "namespace", "level"):
            doc.pop(noise, None)
        if event == "solver log":
            out.append(f"{when} | {doc.get('line', '')}")
        elif event == "progress":
            out.append(
                f"{when} progress: objective {_num(doc.get('objective')) or '-'}, bound "
                f"{_num(doc.get('bound')) or '-'}, gap {_num(doc.get('gap')) or '-'}, "
                f"{doc.get('solutionsFound', 0)} solutions, {_num(doc.get('elapsedSeconds'))}s"
            )
        else:
            fields = " ".join(f"{k}={v}" for k, v in doc.items())
            out.append(f"{when} {event} {fields}".rstrip())
    return "\n".join(out) + "\n"
