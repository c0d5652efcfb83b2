"""Which objects a CleanupPolicy rule selects. Pure: plain data in, decisions out.

Two steps, both pure:

- `slim(target, body, ctx)`: one listed object -> a small `Record` holding only what
  selection needs, or None when the object is not the target's at all (the selector does
  not match, a Job is unfinished, a revision is in use, it is already being deleted). The
  reconciler calls it page by page, so a run never holds thousands of full bodies.
- `select(rule, records, now)`: phases, keep-newest-per-group, then age; what is left is a
  candidate, unless protected.

Both are conservative: a value that cannot be read (no finish time, a malformed
annotation, an unknown MCPServer) never makes an object a candidate.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mcpops.api import API_VERSION
from mcpops.api.cleanuppolicy import LabelSelector, Rule
from mcpops.objects.conditions import true_condition
from mcpops.objects.timestamps import parse_time
from mcpops_common.names import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PROTECTED,
    REVISION_LABEL,
    SERVER_LABEL,
    SUITE_LABEL,
)

FINISHED_PHASES = frozenset({"Succeeded", "Failed", "Cancelled"})  # OptimizationJob phases
_DURATION = re.compile(r"([0-9]+)(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


# ---------------------------------------------------------------- small helpers


def parse_duration(text: str) -> timedelta:
    """30m, 24h, 7d, 1d12h -> a timedelta (the API pattern guarantees the form)."""
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text)))


def fmt_age(delta: timedelta) -> str:
    """A short age like kubectl shows: 45s, 12m, 3h5m, 2d4h."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"


def parse_any_time(value: Any) -> datetime | None:
    """RFC 3339 with or without fractional seconds or an offset; None if not a time."""
    exact = parse_time(value)
    if exact is not None or not isinstance(value, str):
        return exact
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.match_expressions or []:
        present = req.key in labels
        values = set(req.values or [])
        if req.operator == "In" and not (present and labels[req.key] in values):
            return False
        if req.operator == "NotIn" and present and labels[req.key] in values:
            return False
        if req.operator == "Exists" and not present:
            return False
        if req.operator == "DoesNotExist" and present:
            return False
    return True


def selector_string(selector: LabelSelector | None) -> str:
    """The same selector in the API server's labelSelector syntax."""
    if selector is None:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for req in selector.match_expressions or []:
        values = ",".join(sorted(req.values or []))
        parts.append(
            {
                "In": f"{req.key} in ({values})",
                "NotIn": f"{req.key} notin ({values})",
                "Exists": req.key,
                "DoesNotExist": f"!{req.key}",
            }[req.operator]
        )
    return ",".join(parts)


def is_protected(meta: Mapping[str, Any]) -> bool:
    for source in (meta.get("labels"), meta.get("annotations")):
        if str((source or {}).get(PROTECTED, "")).lower() == "true":
            return True
    return False


def job_phase(obj: Mapping[str, Any]) -> str | None:
    """Succeeded / Failed for a finished Job (by its conditions), else None."""
    if true_condition(dict(obj), "Complete") or true_condition(dict(obj), "SuccessCriteriaMet"):
        return "Succeeded"
    if true_condition(dict(obj), "Failed"):
        return "Failed"
    return None


def finished_time(obj: Mapping[str, Any]) -> datetime | None:
    """When a Job-like object finished: completionTime, else its Complete/Failed condition."""
    status = obj.get("status") or {}
    for key in ("completionTime", "finishedAt"):
        when = parse_any_time(status.get(key))
        if when is not None:
            return when
    for type_ in ("Complete", "Failed"):
        cond = true_condition(dict(obj), type_)
        if cond is not None:
            return parse_any_time(cond.get("lastTransitionTime"))
    return None


# ---------------------------------------------------------------- what the rules target


@dataclass(frozen=True)
class ServerInfo:
    """What a CleanupPolicy needs to know of one MCPServer."""

    in_use: frozenset[str]  # active, candidate, and previous (inside its window) revisions
    candidate: str | None
    outcomes: Mapping[str, str]  # revision -> outcome in status.revisions
    protected: bool


@dataclass(frozen=True)
class Context:
    """Facts from outside the listed objects: the MCPServers of the namespace, by name."""

    servers: Mapping[str, ServerInfo] = field(default_factory=dict)


def server_info(server: Mapping[str, Any]) -> ServerInfo:
    status = server.get("status") or {}
    rollout = status.get("rollout") or {}
    in_use = {
        rev
        for rev in (
            status.get("activeRevision"),
            status.get("candidateRevision"),
            # The MCPServer keeps `previous` exactly as long as its scale-down delay and
            # verify window last, then drops it: while present, it may take traffic back.
            rollout.get("previous"),
            # A rollout in flight names its revision here before candidateRevision is set.
            rollout.get("revision"),
        )
        if rev
    }
    outcomes = {
        str(r["revision"]): str(r.get("outcome") or "")
        for r in status.get("revisions") or []
        if isinstance(r, dict) and r.get("revision")
    }
    return ServerInfo(
        in_use=frozenset(in_use),
        candidate=status.get("candidateRevision") or rollout.get("revision"),
        outcomes=outcomes,
        protected=is_protected(server.get("metadata") or {}),
    )


def context(servers: Iterable[Mapping[str, Any]]) -> Context:
    return Context(
        servers={
            str(s["metadata"]["name"]): server_info(s)
            for s in servers
            if not (s.get("metadata") or {}).get("deletionTimestamp")
        }
    )


@dataclass(frozen=True)
class Target:
    """What one rule lists: where, with which server-side selector, and how to read it."""

    kind: str  # revisions | testJobs | optimizationJobs | resources
    api_version: str
    object_kind: str
    plural: str | None  # None: found by discovery (resources)
    label_selector: str
    selector: LabelSelector | None = None  # re-checked locally on every object
    servers: frozenset[str] | None = None


def _server_filter(names: list[str] | None) -> tuple[frozenset[str] | None, str]:
    if not names:
        return None, SERVER_LABEL
    return frozenset(names), f"{SERVER_LABEL} in ({','.join(sorted(set(names)))})"


def target_of(rule: Rule) -> Target:
    managed = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    if rule.mcp_server_revisions is not None:
        servers, sel = _server_filter(rule.mcp_server_revisions.servers)
        return Target(
            "revisions",
            "apps/v1",
            "Deployment",
            "deployments",
            f"{managed},{sel},{REVISION_LABEL}",
            servers=servers,
        )
    if rule.test_jobs is not None:
        servers, sel = _server_filter(rule.test_jobs.servers)
        return Target(
            "testJobs", "batch/v1", "Job", "jobs", f"{managed},{sel},{SUITE_LABEL}", servers=servers
        )
    if rule.optimization_jobs is not None:
        sel_obj = rule.optimization_jobs.selector
        return Target(
            "optimizationJobs",
            API_VERSION,
            "OptimizationJob",
            "optimizationjobs",
            selector_string(sel_obj),
            selector=sel_obj,
        )
    assert rule.resources is not None
    res = rule.resources
    return Target(
        "resources",
        res.api_version,
        res.kind,
        None,
        selector_string(res.selector),
        selector=res.selector,
    )


def default_group(target: Target) -> str:
    if target.kind in {"revisions", "testJobs"}:
        return f"label:{SERVER_LABEL}"
    if target.kind == "optimizationJobs":
        return "none"
    return "owner"


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Record:
    """One listed object, reduced to what selection reads."""

    api_version: str
    kind: str
    name: str
    uid: str
    created: datetime
    clock: datetime | None  # the rule's clock; None: unreadable, never old enough
    phase: str | None
    group: str
    protected: bool


def _group(group_by: str, meta: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    if group_by == "none":
        return ""
    if group_by == "owner":
        refs = [r for r in meta.get("ownerReferences") or [] if isinstance(r, dict)]
        ref = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
        return f"{ref.get('kind', '')}/{ref.get('uid', '')}" if ref else ""
    return labels.get(group_by.removeprefix("label:"), "")


def _clock(clock: str, body: Mapping[str, Any], created: datetime) -> datetime | None:
    if clock == "created":
        return created
    if clock == "finished":
        return finished_time(body)
    key = clock.removeprefix("annotation:")
    return parse_any_time(((body.get("metadata") or {}).get("annotations") or {}).get(key))


def slim(rule: Rule, target: Target, body: Mapping[str, Any], ctx: Context) -> Record | None:
    """The object as selection sees it, or None when it is not this rule's target at all."""
    meta = body.get("metadata") or {}
    labels: Mapping[str, str] = meta.get("labels") or {}
    created = parse_any_time(meta.get("creationTimestamp"))
    if created is None or not meta.get("uid") or not meta.get("name"):
        return None
    if meta.get("deletionTimestamp"):
        return None  # already going
    if not selector_matches(target.selector, labels):
        return None  # never trust the server-side selector alone
    protected = is_protected(meta)
    phase: str | None
    if target.kind in {"revisions", "testJobs"}:
        server = labels.get(SERVER_LABEL, "")
        info = ctx.servers.get(server)
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or info is None:
            return None  # not ours, or its MCPServer is unknown/going: decide nothing
        if target.servers is not None and server not in target.servers:
            return None
        revision = labels.get(REVISION_LABEL, "")
        protected = protected or info.protected
        if target.kind == "revisions":
            replicas = (body.get("spec") or {}).get("replicas", 1)
            if not revision or revision in info.in_use or replicas != 0:
                return None  # serving, or may serve again at once
            phase = info.outcomes.get(revision) or None
        else:
            if SUITE_LABEL not in labels or revision == info.candidate:
                return None  # the candidate's tests are the rollout's evidence in flight
            phase = job_phase(body)
            if phase is None:
                return None  # still running
    elif target.kind == "optimizationJobs":
        phase = (body.get("status") or {}).get("phase")
        if phase not in FINISHED_PHASES:
            return None
    else:
        if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and SERVER_LABEL in labels:
            return None  # an MCPServer's own children: only its targets know what serves
        status = body.get("status")
        raw = status.get("phase") if isinstance(status, dict) else None
        phase = raw if isinstance(raw, str) else job_phase(body)
    group_by = rule.group_by or default_group(target)
    group = _group(group_by, meta, labels)
    if target.kind == "testJobs":
        group = f"{group}/{phase}"  # keep N succeeded and N failed
    return Record(
        api_version=str(body.get("apiVersion") or target.api_version),
        kind=str(body.get("kind") or target.object_kind),
        name=str(meta["name"]),
        uid=str(meta["uid"]),
        created=created,
        clock=_clock(rule.clock, body, created),
        phase=phase,
        group=group,
        protected=protected,
    )


# ---------------------------------------------------------------- selection


@dataclass(frozen=True, slots=True)
class Candidate:
    rule: str
    record: Record
    age: timedelta  # by the rule's clock (creation when the clock has no value)


@dataclass
class Selection:
    matched: list[Record] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    protected: list[Candidate] = field(default_factory=list)


def _newest_first(record: Record) -> tuple[datetime, str]:
    return (record.created, record.name)


def select(rule: Rule, records: Iterable[Record], now: datetime) -> Selection:
    """Candidates of one rule: in a phase of `phases`, beyond the group's `keepNewest`,
    older than `olderThan`. Protected ones are reported apart and never candidates."""
    out = Selection()
    phases = set(rule.phases) if rule.phases else None
    out.matched = [r for r in records if phases is None or r.phase in phases]
    kept: set[str] = set()
    if rule.keep_newest is not None:
        groups: dict[str, list[Record]] = defaultdict(list)
        for r in out.matched:
            groups[r.group].append(r)
        for members in groups.values():
            members.sort(key=_newest_first, reverse=True)
            kept.update(r.uid for r in members[: rule.keep_newest])
    min_age = parse_duration(rule.older_than) if rule.older_than is not None else None
    for r in out.matched:
        if r.uid in kept:
            continue
        age = now - (r.clock or r.created)
        if min_age is not None and (r.clock is None or age <= min_age):
            continue
        (out.protected if r.protected else out.candidates).append(Candidate(rule.name, r, age))
    return out


def combine(selections: Iterable[Selection]) -> Selection:
    """Rules are independent: an object any rule selects is a candidate (named by the first
    rule, in spec order); counted once however many rules match it."""
    out = Selection()
    seen_matched: set[str] = set()
    seen: set[str] = set()
    for sel in selections:
        for r in sel.matched:
            if r.uid not in seen_matched:
                seen_matched.add(r.uid)
                out.matched.append(r)
        for c in sel.protected:
            if c.record.uid not in seen:
                seen.add(c.record.uid)
                out.protected.append(c)
        for c in sel.candidates:
            if c.record.uid not in seen:
                seen.add(c.record.uid)
                out.candidates.append(c)
    out.candidates.sort(key=lambda c: (c.record.created, c.record.kind, c.record.name))
    return out
