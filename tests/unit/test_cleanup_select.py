"""CleanupPolicy selection over plain data: property-based over generated object sets and rules.

The properties: nothing protected, unmatched, serving (active, candidate, previous), unfinished
or already deleting is ever selected; keep-newest-N and older-than hold exactly (every object
they allow is selected, nothing else).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpops.api.cleanuppolicy import LabelSelector, Rule
from mcpops.kinds.cleanuppolicy.select import (
    Context,
    combine,
    context,
    fmt_age,
    parse_duration,
    select,
    selector_matches,
    selector_string,
    slim,
    target_of,
)
from mcpops.objects.timestamps import fmt_time

NOW = datetime(2026, 3, 1, tzinfo=UTC)
CLOCK_KEY = "example.com/expires-from"
PROPERTY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def body(
    i: int,
    *,
    age: int,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: int | None = None,
    phase: str | None = None,
    finished_ago: int | None = None,
    deleting: bool = False,
    api_version: str = "v1",
    kind: str = "ConfigMap",
    **extra: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": f"obj-{i}",
        "namespace": "ns",
        "uid": f"uid-{i}",
        "creationTimestamp": fmt_time(NOW - timedelta(seconds=age)),
        "labels": labels or {},
        "annotations": annotations or {},
    }
    if owner is not None:
        meta["ownerReferences"] = [
            {"kind": "Thing", "name": f"o{owner}", "uid": f"owner-{owner}", "controller": True}
        ]
    if deleting:
        meta["deletionTimestamp"] = fmt_time(NOW)
    status: dict[str, Any] = {}
    if phase is not None:
        status["phase"] = phase
    if finished_ago is not None:
        status["completionTime"] = fmt_time(NOW - timedelta(seconds=finished_ago))
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "status": status, **extra}


# ---------------------------------------------------------------- helpers


def test_durations_and_ages() -> None:
    assert parse_duration("1d12h").total_seconds() == 36 * 3600
    assert parse_duration("90s").total_seconds() == 90
    assert fmt_age(timedelta(days=2, hours=4, minutes=3)) == "2d4h"
    assert fmt_age(timedelta(hours=3, minutes=5)) == "3h5m"
    assert fmt_age(timedelta(seconds=45)) == "45s"


def test_selector_string_matches_the_local_check() -> None:
    sel = LabelSelector.model_validate(
        {
            "matchLabels": {"app": "a"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["x", "y"]},
                {"key": "keep", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["z"]},
                {"key": "team", "operator": "Exists"},
            ],
        }
    )
    assert selector_string(sel) == "app=a,tier in (x,y),!keep,zone notin (z),team"
    assert selector_matches(sel, {"app": "a", "tier": "x", "team": "t"})
    assert not selector_matches(sel, {"app": "a", "tier": "x", "team": "t", "keep": "1"})
    assert not selector_matches(sel, {"app": "a", "tier": "x", "team": "t", "zone": "z"})
    assert not selector_matches(sel, {"app": "a", "tier": "w", "team": "t"})


# ---------------------------------------------------------------- any kind by label


LABEL_VALUES = st.sampled_from(["a", "b"])
objects = st.lists(
    st.fixed_dictionaries(
        {
            "age": st.integers(0, 30 * 86400),
            "app": st.one_of(st.none(), LABEL_VALUES),
            "tier": st.one_of(st.none(), st.sampled_from(["x", "y"])),
            "protected": st.sampled_from([None, "label", "annotation", "false"]),
            "owner": st.one_of(st.none(), st.integers(0, 2)),
            "phase": st.sampled_from([None, "Succeeded", "Failed", "Running"]),
            "finished_ago": st.one_of(st.none(), st.integers(0, 30 * 86400)),
            "clock": st.one_of(st.none(), st.just("not a time"), st.integers(-86400, 30 * 86400)),
            "deleting": st.booleans(),
        }
    ),
    max_size=40,
)


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    older = draw(st.sampled_from([None, "0s", "1h", "2d", "10d"]))
    keep = draw(st.sampled_from([None, 0, 1, 3]))
    if older is None and keep is None:
        keep = 2
    rule: dict[str, Any] = {
        "name": "r",
        "resources": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "selector": draw(
                st.sampled_from(
                    [
                        {"matchLabels": {"app": "a"}},
                        {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                        {
                            "matchLabels": {"app": "b"},
                            "matchExpressions": [
                                {"key": "tier", "operator": "NotIn", "values": ["y"]}
                            ],
                        },
                    ]
                )
            ),
        },
        "clock": draw(st.sampled_from(["created", "finished", f"annotation:{CLOCK_KEY}"])),
        "groupBy": draw(st.sampled_from(["owner", "none", "label:tier"])),
    }
    if older is not None:
        rule["olderThan"] = older
    if keep is not None:
        rule["keepNewest"] = keep
    phases = draw(st.sampled_from([None, ["Succeeded"], ["Succeeded", "Failed"]]))
    if phases:
        rule["phases"] = phases
    return rule


def build(i: int, o: dict[str, Any]) -> dict[str, Any]:
    labels = {k: o[k] for k in ("app", "tier") if o[k] is not None}
    annotations: dict[str, str] = {}
    if o["protected"] == "label":
        labels["mcpops.dev/protected"] = "true"
    elif o["protected"] == "annotation":
        annotations["mcpops.dev/protected"] = "true"
    elif o["protected"] == "false":
        labels["mcpops.dev/protected"] = "false"
    if isinstance(o["clock"], int):
        annotations[CLOCK_KEY] = fmt_time(NOW - timedelta(seconds=o["clock"]))
    elif o["clock"] is not None:
        annotations[CLOCK_KEY] = o["clock"]
    return body(
        i,
        age=o["age"],
        labels=labels,
        annotations=annotations,
        owner=o["owner"],
        phase=o["phase"],
        finished_ago=o["finished_ago"],
        deleting=o["deleting"],
    )


def expected(rule: Rule, objs: list[dict[str, Any]]) -> set[str]:
    """The rule's meaning, computed independently: names that must be selected or protected."""
    assert rule.resources is not None
    sel = rule.resources.selector
    population = []
    for o in objs:
        meta = o["metadata"]
        if meta.get("deletionTimestamp") or not selector_matches(sel, meta["labels"]):
            continue
        if rule.phases and o["status"].get("phase") not in rule.phases:
            continue
        population.append(o)
    kept: set[str] = set()
    if rule.keep_newest is not None:
        groups: dict[str, list[dict[str, Any]]] = {}
        for o in population:
            meta = o["metadata"]
            if rule.group_by == "owner":
                refs = meta.get("ownerReferences") or []
                g = f"Thing/{refs[0]['uid']}" if refs else ""
            elif rule.group_by == "none":
                g = ""
            else:
                g = meta["labels"].get("tier", "")
            groups.setdefault(g, []).append(o)
        for members in groups.values():
            members.sort(key=lambda o: (o["metadata"]["creationTimestamp"], o["metadata"]["name"]))
            kept.update(o["metadata"]["name"] for o in members[::-1][: rule.keep_newest])
    out = set()
    for o in population:
        name = o["metadata"]["name"]
        if name in kept:
            continue
        if rule.older_than is not None:
            if rule.clock == "created":
                since = o["metadata"]["creationTimestamp"]
            elif rule.clock == "finished":
                since = o["status"].get("completionTime")
            else:
                since = o["metadata"]["annotations"].get(CLOCK_KEY)
            when = None
            if since and since != "not a time":
                when = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if when is None or NOW - when <= parse_duration(rule.older_than):
                continue
        out.add(name)
    return out


@PROPERTY
@given(objects, rules())
def test_selection_of_any_kind(raw: list[dict[str, Any]], rule_wire: dict[str, Any]) -> None:
    rule = Rule.model_validate(rule_wire)
    target = target_of(rule)
    objs = [build(i, o) for i, o in enumerate(raw)]
    records = [r for r in (slim(rule, target, o, Context()) for o in objs) if r is not None]
    sel = select(rule, records, NOW)
    by_name = {o["metadata"]["name"]: o for o in objs}
    chosen = {c.record.name for c in sel.candidates}
    protected = {c.record.name for c in sel.protected}
    assert not chosen & protected
    for name in chosen:
        meta = by_name[name]["metadata"]
        assert meta["labels"].get("mcpops.dev/protected") != "true"
        assert meta["annotations"].get("mcpops.dev/protected") != "true"
        assert selector_matches(rule.resources.selector if rule.resources else None, meta["labels"])
        assert not meta.get("deletionTimestamp")
    for name in protected:
        meta = by_name[name]["metadata"]
        assert "true" in {
            meta["labels"].get("mcpops.dev/protected"),
            meta["annotations"].get("mcpops.dev/protected"),
        }
    # keep-N and age, exactly: selected-or-protected is precisely what the rule allows.
    assert chosen | protected == expected(rule, objs)
    for c in sel.candidates:
        if rule.older_than is not None:
            assert c.age > parse_duration(rule.older_than)


# ---------------------------------------------------------------- MCPServer revisions and tests

REVS = [f"rev{i}" for i in range(6)]


@st.composite
def servers(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """MCPServers with rollout state, and their revision Deployments and test Jobs."""
    server_objs, children = [], []
    n = 0
    for s in range(draw(st.integers(1, 3))):
        name = f"srv{s}"
        active = draw(st.one_of(st.none(), st.sampled_from(REVS)))
        candidate = draw(st.one_of(st.none(), st.sampled_from(REVS)))
        previous = draw(st.one_of(st.none(), st.sampled_from(REVS)))
        status: dict[str, Any] = {
            "revisions": [
                {"revision": r, "outcome": draw(st.sampled_from(["Superseded", "Failed", ""]))}
                for r in REVS
            ],
            "rollout": {"previous": previous, "switchedAt": fmt_time(NOW)} if previous else {},
        }
        if active:
            status["activeRevision"] = active
        if candidate:
            status["candidateRevision"] = candidate
        protected = draw(st.booleans()) and draw(st.booleans())
        server_objs.append(
            {
                "metadata": {
                    "name": name,
                    "labels": {"mcpops.dev/protected": "true"} if protected else {},
                },
                "status": status,
            }
        )
        for rev in draw(st.lists(st.sampled_from(REVS), unique=True)):
            labels = {
                "app.kubernetes.io/managed-by": "mcpops",
                "mcpops.dev/server": name,
                "mcpops.dev/revision": rev,
            }
            n += 1
            children.append(
                body(
                    n,
                    age=draw(st.integers(0, 10 * 86400)),
                    labels=labels,
                    api_version="apps/v1",
                    kind="Deployment",
                    spec={"replicas": draw(st.sampled_from([0, 0, 0, 1]))},
                )
            )
            for _ in range(draw(st.integers(0, 3))):
                n += 1
                outcome = draw(st.sampled_from(["Complete", "Failed", None]))
                job = body(
                    n,
                    age=draw(st.integers(0, 10 * 86400)),
                    labels={**labels, "mcpops.dev/suite": "smoke"},
                    api_version="batch/v1",
                    kind="Job",
                )
                if outcome:
                    job["status"]["conditions"] = [{"type": outcome, "status": "True"}]
                children.append(job)
        # A stranger: carries the labels but is not managed by mcpops.
        n += 1
        children.append(
            body(
                n,
                age=86400 * 20,
                labels={"mcpops.dev/server": name, "mcpops.dev/revision": "rev0"},
                api_version="apps/v1",
                kind="Deployment",
                spec={"replicas": 0},
            )
        )
    return server_objs, children


@PROPERTY
@given(
    servers(),
    st.sampled_from([None, 0, 1, 2]),
    st.sampled_from([None, "0s", "3d"]),
    st.sampled_from(["mcpServerRevisions", "testJobs"]),
)
def test_server_targets_never_touch_what_serves(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    keep: int | None,
    older: str | None,
    target_name: str,
) -> None:
    server_objs, children = data
    wire: dict[str, Any] = {"name": "r", target_name: {}}
    if keep is None and older is None:
        keep = 1
    if keep is not None:
        wire["keepNewest"] = keep
    if older is not None:
        wire["olderThan"] = older
    rule = Rule.model_validate(wire)
    target = target_of(rule)
    ctx = context(server_objs)
    records = [r for r in (slim(rule, target, c, ctx) for c in children) if r is not None]
    sel = select(rule, records, NOW)
    statuses = {s["metadata"]["name"]: s for s in server_objs}
    by_uid = {c["metadata"]["uid"]: c for c in children}
    per_group: dict[str, list[Any]] = {}
    for c in sel.candidates + sel.protected:
        obj = by_uid[c.record.uid]
        labels = obj["metadata"]["labels"]
        server = statuses[labels["mcpops.dev/server"]]
        st_ = server["status"]
        in_use = {
            st_.get("activeRevision"),
            st_.get("candidateRevision"),
            st_["rollout"].get("previous"),
        }
        assert labels.get("app.kubernetes.io/managed-by") == "mcpops"
        if target_name == "mcpServerRevisions":
            assert obj["kind"] == "Deployment"
            assert labels["mcpops.dev/revision"] not in in_use
            assert obj["spec"]["replicas"] == 0
        else:
            assert obj["kind"] == "Job"
            assert obj["status"].get("conditions"), "an unfinished Job was selected"
            assert labels["mcpops.dev/revision"] != st_.get("candidateRevision")
        server_protected = server["metadata"]["labels"].get("mcpops.dev/protected") == "true"
        assert (c in sel.protected) == server_protected
        per_group.setdefault(c.record.group, []).append(c)
    # keep-N exact per group: the group's newest N matched objects are never selected.
    if keep is not None:
        groups: dict[str, list[Any]] = {}
        for r in sel.matched:
            groups.setdefault(r.group, []).append(r)
        chosen = {c.record.uid for c in sel.candidates + sel.protected}
        for members in groups.values():
            members.sort(key=lambda r: (r.created, r.name), reverse=True)
            assert not {r.uid for r in members[:keep]} & chosen
            if older is None:
                assert {r.uid for r in members[keep:]} <= chosen


def test_test_jobs_keep_n_per_server_and_outcome() -> None:
    server = {"metadata": {"name": "s"}, "status": {"activeRevision": "r1"}}
    labels = {
        "app.kubernetes.io/managed-by": "mcpops",
        "mcpops.dev/server": "s",
        "mcpops.dev/revision": "r1",
        "mcpops.dev/suite": "smoke",
    }
    jobs = []
    for i in range(6):
        job = body(i, age=1000 - i, labels=labels, api_version="batch/v1", kind="Job")
        outcome = "Complete" if i % 2 else "Failed"
        job["status"]["conditions"] = [{"type": outcome, "status": "True"}]
        jobs.append(job)
    rule = Rule.model_validate({"name": "t", "testJobs": {}, "keepNewest": 2})
    target = target_of(rule)
    ctx = context([server])
    records = [r for r in (slim(rule, target, j, ctx) for j in jobs) if r is not None]
    sel = select(rule, records, NOW)
    # Newest are the highest i: kept failed 4, 2 and succeeded 5, 3.
    assert sorted(c.record.name for c in sel.candidates) == ["obj-0", "obj-1"]


def test_combine_counts_each_object_once_and_names_the_first_rule() -> None:
    objs = [body(i, age=86400 * 3, labels={"app": "a"}) for i in range(4)]
    first = Rule.model_validate(
        {
            "name": "first",
            "resources": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "selector": {"matchLabels": {"app": "a"}},
            },
            "keepNewest": 2,
        }
    )
    second = Rule.model_validate({**first.to_wire(), "name": "second", "olderThan": "1d"})
    sels = []
    for rule in (first, second):
        target = target_of(rule)
        recs = [r for r in (slim(rule, target, o, Context()) for o in objs) if r is not None]
        sels.append(select(rule, recs, NOW))
    both = combine(sels)
    assert len(both.matched) == 4
    assert len(both.candidates) == 2
    assert {c.rule for c in both.candidates} == {"first"}


def test_generic_rules_leave_mcpserver_children_alone() -> None:
    rule = Rule.model_validate(
        {
            "name": "all-deploys",
            "resources": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "selector": {
                    "matchExpressions": [{"key": "mcpops.dev/server", "operator": "Exists"}]
                },
            },
            "olderThan": "0s",
        }
    )
    dep = body(
        1,
        age=999,
        labels={"app.kubernetes.io/managed-by": "mcpops", "mcpops.dev/server": "s"},
        api_version="apps/v1",
        kind="Deployment",
    )
    assert slim(rule, target_of(rule), dep, Context()) is None


def test_optimization_jobs_finished_includes_cancelled_not_queued_or_running() -> None:
    rule = Rule.model_validate({"name": "o", "optimizationJobs": {}})
    target = target_of(rule)
    phases = ["Succeeded", "Failed", "Cancelled", "Queued", "Pending", "Running", None]
    jobs = [
        body(i, age=100, phase=p, api_version="mcpops.dev/v1alpha1", kind="OptimizationJob")
        for i, p in enumerate(phases)
    ]
    ctx = context([])
    kept = [r.name for r in (slim(rule, target, j, ctx) for j in jobs) if r is not None]
    assert kept == ["obj-0", "obj-1", "obj-2"]
