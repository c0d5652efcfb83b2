"""Cluster glue for CleanupPolicy: decide whether a run is due, list, select, delete, report.

Lists go to the API server (not the watch caches: the targets are arbitrary kinds), one
page at a time with the rule's label selector, each page reduced to slim records before
the next is read. Deletes carry the object's UID as a precondition (a re-created object of
the same name is never deleted) and Background propagation (a Job's pods and an
OptimizationJob's result ConfigMaps follow through garbage collection).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import structlog

from mcpops import metrics
from mcpops.api import API_VERSION
from mcpops.api.cleanuppolicy import CleanupPolicySpec, Rule
from mcpops.kinds.cleanuppolicy import plan
from mcpops.kinds.cleanuppolicy import status as policy_status
from mcpops.kinds.cleanuppolicy.plan import Problem, RunResult, Trigger
from mcpops.kinds.cleanuppolicy.select import (
    Candidate,
    Context,
    Record,
    Selection,
    Target,
    combine,
    context,
    select,
    slim,
    target_of,
)
from mcpops.machinery.client import ApiError, Client
from mcpops.machinery.store import Key, Store
from mcpops.machinery.writer import Writer
from mcpops.objects.bodies import Body
from mcpops.objects.paths import PLURALS, api_prefix
from mcpops.settings import Settings

KIND = "CleanupPolicy"
log = structlog.stdlib.get_logger("mcpops.kinds.cleanuppolicy")
PAGE_SIZE = 500
_OURS = frozenset(
    {("apps/v1", "Deployment"), ("batch/v1", "Job"), (API_VERSION, "OptimizationJob")}
)


def _resource_name(api_version: str, plural: str) -> str:
    group = api_version.rpartition("/")[0]
    return f"{plural}.{group}" if group else plural


def _api_problem(exc: ApiError, verb: str, what: str, namespace: str) -> Problem:
    if exc.status == 403:
        return Problem(
            "Forbidden",
            f"cannot {verb} {what} in namespace {namespace}: the operator's RBAC lacks "
            f"'{verb}' on {what} (add a rule to the chart's cleanup.extraRules)",
        )
    reason = "ListFailed" if verb == "list" else "DeleteFailed"
    return Problem(reason, f"{verb} {what} in namespace {namespace}: {exc}")


class CleanupPolicyReconciler:
    def __init__(self, store: Store, client: Client, settings: Settings | None = None) -> None:
        del settings  # nothing of it is needed: the same signature as every reconciler
        self.store = store
        self.client = client
        self.write = Writer(client, store, KIND)
        self._plurals: dict[tuple[str, str], tuple[str, bool] | None] = {}

    # ---------------------------------------------------------------- the work queue's entry

    async def __call__(self, key: Key) -> float | None:
        obj = self.store.parent(KIND, key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            metrics.CLEANUP_BLOCKED.labels(*key).set(0)
            return None
        bound = log.bind(namespace=key[0], name=key[1], uid=obj["metadata"].get("uid"), kind=KIND)
        now = datetime.now(UTC)
        spec = plan.parse(obj)
        if isinstance(spec, plan.Invalid):
            status, events = policy_status.invalid_status(obj, spec, now)
            if await self.write.status(key, obj, status) is not None:
                bound.warning("invalid policy", reason=spec.reason, message=spec.message)
            await self.write.events(obj, events)
            return None
        trig = plan.trigger(obj, spec, now)
        if trig.reason is None:
            await self.write.status(key, obj, policy_status.idle_status(obj, trig, now))
            return plan.wait_seconds(trig, now)
        result = await self.run(key, obj, spec, trig, bound)
        done = datetime.now(UTC)
        status, events = policy_status.run_status(obj, result, done)
        await self.write.status(key, obj, status)
        await self.write.events(obj, events)
        self._record(key, result)
        bound.info(
            "cleanup run",
            mode=result.mode,
            trigger=trig.reason,
            matched=len(result.selection.matched),
            candidates=len(result.selection.candidates),
            protected=len(result.selection.protected),
            deleted=len(result.deleted),
            failed=len(result.failed),
            deferred=len(result.deferred),
            skipped=result.skipped,
            blocked=bool(result.gate.breaker and result.gate.breaker["state"] == "Blocked"),
            problems=[p.message for p in result.problems],
            seconds=round(result.duration, 3),
            next_run=status.get("nextRunTime"),
        )
        return plan.wait_seconds(trig, datetime.now(UTC))

    # ---------------------------------------------------------------- one run

    async def run(
        self,
        key: Key,
        obj: Body,
        spec: CleanupPolicySpec,
        trig: Trigger,
        bound: structlog.stdlib.BoundLogger,
    ) -> RunResult:
        started = time.perf_counter()
        namespace = key[0]
        problems: list[Problem] = []
        ctx = Context()
        targets = [(rule, target_of(rule)) for rule in spec.rules]
        if any(t.kind in {"revisions", "testJobs"} for _, t in targets):
            try:
                ctx = context(
                    await self._list_all(API_VERSION, "mcpservers", namespace, "", lambda b: b)
                )
            except ApiError as exc:
                problems.append(_api_problem(exc, "list", "mcpservers.mcpops.dev", namespace))
        selections: list[Selection] = []
        now = datetime.now(UTC)
        for rule, target in targets:
            if target.kind in {"revisions", "testJobs"} and problems:
                continue  # without the MCPServers nothing can be told safe
            records = await self._records(rule, target, namespace, ctx, problems)
            if records is not None:
                selections.append(select(rule, records, now))
        selection = combine(selections)
        matched = len(selection.matched)
        gate = plan.gate(obj, spec, len(selection.candidates), matched, now)
        result = RunResult(trig, spec.mode, selection, gate, problems=problems)
        if spec.mode == "Enforce" and gate.allowed:
            now_delete, result.deferred = plan.cap(spec, selection.candidates, matched)
            if now_delete:
                claim = policy_status.claim_status(obj, trig, gate, datetime.now(UTC))
                await self.write.status(key, obj, claim)
            await self._delete(namespace, now_delete, spec.deletes_per_second, result, bound)
        result.duration = time.perf_counter() - started
        return result

    async def _records(
        self, rule: Rule, target: Target, namespace: str, ctx: Context, problems: list[Problem]
    ) -> list[Record] | None:
        plural = target.plural
        if plural is None:
            found = await self._discover(target.api_version, target.object_kind, problems)
            if found is None:
                return None
            plural = found
        try:
            return await self._list_all(
                target.api_version,
                plural,
                namespace,
                target.label_selector,
                lambda body: slim(rule, target, body, ctx),
            )
        except ApiError as exc:
            what = _resource_name(target.api_version, plural)
            problems.append(_api_problem(exc, "list", what, namespace))
            return None

    async def _list_all(
        self,
        api_version: str,
        plural: str,
        namespace: str,
        selector: str,
        reduce: Callable[[Body], Any],
    ) -> list[Any]:
        """Every page, each reduced to what is kept (None: dropped) before the next is read."""
        kept: list[Any] = []
        cont: str | None = None
        while True:
            page = await self.client.list(
                api_version,
                plural,
                namespace,
                label_selector=selector or None,
                limit=PAGE_SIZE,
                continue_=cont,
            )
            for item in page.get("items") or []:
                reduced = reduce(item)
                if reduced is not None:
                    kept.append(reduced)
            cont = (page.get("metadata") or {}).get("continue")
            del page
            if not cont:
                return kept

    async def _discover(self, api_version: str, kind: str, problems: list[Problem]) -> str | None:
        """The plural of a kind from API discovery (cached); a Problem when it is unknown."""
        cache_key = (api_version, kind)
        if cache_key not in self._plurals:
            try:
                doc = await self.client.request(
                    "GET", api_prefix(api_version), resource="discovery"
                )
            except ApiError as exc:
                if exc.status != 404:
                    problems.append(Problem("UnknownKind", f"discovery of {api_version}: {exc}"))
                    return None
                doc = {}
            found = None
            for res in doc.get("resources") or []:
                if res.get("kind") == kind and "/" not in res.get("name", ""):
                    found = (str(res["name"]), bool(res.get("namespaced")))
                    break
            self._plurals[cache_key] = found
        found = self._plurals[cache_key]
        if found is None:
            self._plurals.pop(cache_key, None)  # look again next run: a CRD may be installed
            problems.append(
                Problem("UnknownKind", f"the API server serves no kind {kind} in {api_version}")
            )
            return None
        if not found[1]:
            problems.append(
                Problem("UnknownKind", f"{kind} is cluster-scoped; a policy acts in its namespace")
            )
            return None
        return found[0]

    async def _delete(
        self,
        namespace: str,
        candidates: Iterable[Candidate],
        per_second: float,
        result: RunResult,
        bound: structlog.stdlib.BoundLogger,
    ) -> None:
        interval = 1.0 / per_second
        plurals: dict[tuple[str, str], str | None] = {}
        forbidden: set[str] = set()
        for i, c in enumerate(candidates):
            rec = c.record
            pkey = (rec.api_version, rec.kind)
            if pkey not in plurals:
                plurals[pkey] = await self._plural_for(rec.api_version, rec.kind, result.problems)
            plural = plurals[pkey]
            if plural is None:
                result.failed.append((c, "unknown kind"))
                continue
            if i:
                await asyncio.sleep(interval)
            try:
                gone = await self.client.delete(
                    rec.api_version, plural, namespace, rec.name, uid=rec.uid
                )
            except ApiError as exc:
                if exc.status == 409:
                    result.skipped += 1  # the UID precondition: a re-created object, not ours
                    bound.info("not deleted: re-created", child=rec.kind, child_name=rec.name)
                    continue
                result.failed.append((c, str(exc)))
                what = _resource_name(rec.api_version, plural)
                if what not in forbidden:
                    forbidden.add(what)
                    result.problems.append(_api_problem(exc, "delete", what, namespace))
                continue
            if not gone:
                result.skipped += 1
                continue
            result.deleted.append((c, datetime.now(UTC)))
            bound.info(
                "deleted", child=rec.kind, child_name=rec.name, child_uid=rec.uid, rule=c.rule
            )

    async def _plural_for(self, api_version: str, kind: str, problems: list[Problem]) -> str | None:
        if (api_version, kind) in _OURS:  # kinds the operator itself writes: no discovery
            return PLURALS[kind]
        return await self._discover(api_version, kind, problems)

    # ---------------------------------------------------------------- metrics

    def _record(self, key: Key, result: RunResult) -> None:
        ns, name = key
        blocked = bool(result.gate.breaker and result.gate.breaker["state"] == "Blocked")
        outcome = "error" if result.problems else "blocked" if blocked else "ok"
        metrics.CLEANUP_RUNS.labels(ns, name, result.mode, outcome).inc()
        metrics.CLEANUP_RUN_SECONDS.observe(result.duration)
        metrics.CLEANUP_CANDIDATES.labels(ns, name).set(len(result.selection.candidates))
        metrics.CLEANUP_BLOCKED.labels(ns, name).set(1 if blocked else 0)

        def count(cands: Iterable[Candidate], what: str) -> None:
            by_kind: dict[str, int] = {}
            for c in cands:
                by_kind[c.record.kind] = by_kind.get(c.record.kind, 0) + 1
            for kind, n in by_kind.items():
                metrics.CLEANUP_OBJECTS.labels(ns, name, kind, what).inc(n)

        count((c for c, _ in result.deleted), "deleted")
        count((c for c, _ in result.failed), "failed")
        count(result.selection.protected, "protected")
        if result.mode == "DryRun":
            count(result.selection.candidates, "would_delete")
