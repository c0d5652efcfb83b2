"""The pieces that keep the operator steady under faults: retry backoff, drift on owned
fields, conditions owned by others, informer re-lists, write ordering, refused children."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from mcpops.api.base import Condition
from mcpops.api.testsuite import MAX_SUITE_BYTES, TestSuite
from mcpops.kinds.mcpserver.reconciler import MCPServerReconciler
from mcpops.machinery.client import ApiError
from mcpops.machinery.informer import Informer
from mcpops.machinery.queue import RETRY_MAX, WorkQueue, retry_delay
from mcpops.machinery.store import Store, without_managed_fields
from mcpops.machinery.writer import Writer, drain_events
from mcpops.objects.children import stamp, up_to_date
from mcpops.objects.conditions import merge_conditions


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Let the loop run until `condition` holds or `within` seconds passed; the asserts
    after it say what was wrong."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if condition():
            return
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- backoff


def test_retry_delay_doubles_up_to_the_cap() -> None:
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays[:4] == [5.0, 10.0, 20.0, 40.0]
    assert delays == sorted(delays) and max(delays) == RETRY_MAX
    assert retry_delay(10_000) == RETRY_MAX  # no overflow however long it fails


async def test_a_failing_key_backs_off_and_recovers() -> None:
    calls: list[float] = []
    fail = {"on": True}

    async def reconcile(key: tuple[str, str]) -> float | None:
        calls.append(asyncio.get_running_loop().time())
        if fail["on"]:
            raise RuntimeError("the API server is down")
        return None

    queue = WorkQueue("Test", reconcile, workers=1)
    queue.start()
    try:
        queue.add(("ns", "a"))
        await until(lambda: queue._failures.get(("ns", "a")) == 1)
        await asyncio.sleep(0.1)  # a window in which an immediate retry would show
        assert len(calls) == 1  # retried after 5 s, not at once
        assert queue._failures[("ns", "a")] == 1
        # A change while it is failing is still looked at promptly...
        fail["on"] = False
        queue.add(("ns", "a"))
        await until(lambda: len(calls) == 2 and ("ns", "a") not in queue._failures)
        assert len(calls) == 2
        # ...and success clears the failure count.
        assert ("ns", "a") not in queue._failures
    finally:
        await queue.stop()


# ---------------------------------------------------------------- drift and ownership


def _deployment(replicas: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"a": "b"}}, "template": {}}
    if replicas is not None:
        spec["replicas"] = replicas
    return stamp({"kind": "Deployment", "metadata": {"name": "d"}, "spec": spec})


def test_replicas_changed_by_someone_else_is_drift_to_put_back() -> None:
    desired = _deployment(2)
    live = json.loads(json.dumps(desired))
    assert up_to_date(desired, live)
    live["spec"]["replicas"] = 5  # kubectl scale
    assert not up_to_date(desired, live)


def test_replicas_not_owned_under_autoscaling_is_not_drift() -> None:
    desired = _deployment(None)  # the HPA owns replicas
    live = json.loads(json.dumps(desired))
    live["spec"]["replicas"] = 5
    assert up_to_date(desired, live)


def test_labels_added_by_someone_else_are_not_drift() -> None:
    desired = _deployment(1)
    live = json.loads(json.dumps(desired))
    live["metadata"].setdefault("labels", {})["team"] = "payments"
    assert up_to_date(desired, live)


def test_conditions_of_other_types_are_kept_after_ours() -> None:
    old = [
        {"type": "Ready", "status": "False", "lastTransitionTime": "t0"},
        {"type": "ExternalAudit", "status": "True", "reason": "Checked"},
        {"type": "RolledBack", "status": "True", "lastTransitionTime": "t0"},
    ]
    new = [Condition(type="Ready", status="True", reason="Available")]
    owned = frozenset({"Ready", "RolledBack"})
    merged = merge_conditions(old, new, "t1", owned)
    assert [c["type"] for c in merged] == ["Ready", "ExternalAudit"]  # ours dropped, theirs kept
    assert merged[0]["lastTransitionTime"] == "t1"
    # Without `owned`, the old behaviour: only what the plan says.
    assert [c["type"] for c in merge_conditions(old, new, "t1")] == ["Ready"]


def test_caches_do_not_keep_managed_fields() -> None:
    body = {"metadata": {"name": "x", "managedFields": [{"manager": "m"}]}, "spec": {}}
    slim = without_managed_fields(body)
    assert "managedFields" not in slim["metadata"] and "managedFields" in body["metadata"]
    store = Store()
    store.put_child("Deployment", ("ns", "p"), {**body, "metadata": {**body["metadata"]}})
    assert "managedFields" not in store.children_of("Deployment", ("ns", "p"))["x"]["metadata"]


def test_an_enormous_test_definition_is_refused_with_its_size() -> None:
    blob = {"blob": "x" * (MAX_SUITE_BYTES + 1)}
    with pytest.raises(ValueError, match="suite definition is"):
        TestSuite.model_validate(
            {"name": "huge", "builtin": {"toolCalls": [{"tool": "t", "arguments": blob}]}}
        )


# ---------------------------------------------------------------- informer


class FakeWatchClient:
    """Lists and watches from scripted pages and event streams."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.rv = "10"
        self.streams: list[list[dict[str, Any]]] = []
        self.watched_from: list[str] = []

    async def list(self, *_: Any, **__: Any) -> dict[str, Any]:
        return {"items": [json.loads(json.dumps(i)) for i in self.items],
                "metadata": {"resourceVersion": self.rv}}  # fmt: skip

    async def watch(self, *_: Any, resource_version: str, **__: Any) -> AsyncIterator[Any]:
        self.watched_from.append(resource_version)
        for event in self.streams.pop(0) if self.streams else []:
            yield event
        if not self.streams:
            await asyncio.Event().wait()  # a quiet watch


def _obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, "labels": {}}}


async def test_informer_resumes_and_relists_after_410() -> None:
    client = FakeWatchClient()
    client.items = [_obj("a", "5"), _obj("b", "6")]
    seen: list[tuple[str | None, str]] = []
    informer = Informer(
        client,  # type: ignore[arg-type]
        "v1",
        "configmaps",
        "ConfigMap",
        lambda kind, ev: seen.append((ev["type"], ev["object"]["metadata"]["name"])),
    )
    await informer.list()
    assert seen == [(None, "a"), (None, "b")] and informer.resource_version == "10"
    client.streams = [
        [
            {"type": "ADDED", "object": _obj("c", "11")},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
            {"type": "ERROR", "object": {"code": 410, "message": "too old"}},
        ],
    ]
    # While the watch was down, b was deleted and a changed.
    client.items = [_obj("a", "20"), _obj("c", "11")]
    client.rv = "21"
    task = asyncio.create_task(informer.run())
    await until(
        lambda: informer.resource_version == "21" and len(client.watched_from) >= 2, within=1.0
    )
    task.cancel()
    assert client.watched_from[:2] == ["10", "21"]  # resumed, then continued after the re-list
    assert ("ADDED", "c") in seen
    assert ("DELETED", "b") in seen  # what vanished meanwhile is reported gone
    assert "b" not in {k[1] for k in informer.known}


# ---------------------------------------------------------------- writer and refused children


class FakeClient:
    def __init__(self, refuse: str | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.refuse = refuse
        self.status: dict[str, Any] | None = None

    async def apply(self, manifest: dict[str, Any], *, manager: str = "mcpops") -> dict[str, Any]:
        name = manifest["metadata"]["name"]
        self.calls.append(("apply", name))
        if name == self.refuse:
            body = {"message": f'Deployment "{name}" is invalid: spec.template.metadata.labels'}
            raise ApiError(422, body, "PATCH", name)
        await asyncio.sleep(0)
        return manifest

    async def patch_status(self, *args: Any) -> dict[str, Any]:
        self.calls.append(("status", args[3]))
        self.status = args[4]
        return {**SERVER, "status": args[4]}

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        if manifest["kind"] == "Event":
            self.calls.append(("event", manifest["reason"]))
        else:
            self.calls.append(("create", manifest["kind"]))
        return manifest


SERVER: dict[str, Any] = {
    "apiVersion": "mcpops.dev/v1alpha1",
    "kind": "MCPServer",
    "metadata": {"name": "s", "namespace": "ns", "uid": "u1", "generation": 1},
    "spec": {"image": "example.invalid/mcp:1"},
}


async def test_scale_downs_are_written_after_everything_else() -> None:
    client = FakeClient()
    writer = Writer(client, Store(), "MCPServer")  # type: ignore[arg-type]
    down = {"kind": "Deployment", "metadata": {"name": "old"}, "spec": {"replicas": 0}}
    svc = {"kind": "Service", "metadata": {"name": "svc"}, "spec": {}}
    new = {"kind": "Deployment", "metadata": {"name": "new"}, "spec": {"replicas": 1}}
    import structlog

    await writer.apply(("ns", "s"), [down, svc, new], structlog.stdlib.get_logger("t"))
    assert client.calls[-1] == ("apply", "old")


async def test_a_refused_child_is_reported_once_not_retried() -> None:
    store = Store()
    store.put_parent("MCPServer", json.loads(json.dumps(SERVER)))
    client = FakeClient()
    reconciler = MCPServerReconciler(store, client)  # type: ignore[arg-type]
    # Refuse the Deployment the plan wants (its name carries the revision).
    from mcpops.kinds.mcpserver.plan import Observed, plan

    wanted = plan(SERVER, Observed(), datetime.now(UTC)).apply
    client.refuse = next(m["metadata"]["name"] for m in wanted if m["kind"] == "Deployment")
    assert await reconciler(("ns", "s")) is None  # no requeue: the same spec fails the same way
    await drain_events()
    status = client.status or {}
    assert status["phase"] == "Failed"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ChildRefused" and "spec.template.metadata.labels" in ready["message"]
    assert ("event", "ChildRefused") in client.calls
    # Reconciled again (its own status write came back): nothing new to write or post.
    client.calls.clear()
    assert await reconciler(("ns", "s")) is None
    await drain_events()
    assert [c for c in client.calls if c[0] != "apply"] == []


def test_test_jobs_and_pods_are_cached_without_their_specs() -> None:
    from mcpops.kinds.mcpserver.reconciler import trim as keep

    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
           "spec": {"template": {"env": "x" * 1000}}, "status": {"succeeded": 1}}  # fmt: skip
    assert keep("Job", job) == {k: job[k] for k in ("apiVersion", "kind", "metadata", "status")}
    deployment = {"kind": "Deployment", "metadata": {}, "spec": {"template": {}}}
    assert keep("Deployment", deployment) is deployment  # rescaling rebuilds from its template
