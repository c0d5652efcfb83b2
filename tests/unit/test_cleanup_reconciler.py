"""The CleanupPolicy reconciler against a fake API: paging, UID preconditions, RBAC problems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mcpops.kinds.cleanuppolicy.reconciler import KIND, CleanupPolicyReconciler
from mcpops.machinery.client import ApiError
from mcpops.machinery.store import Store
from mcpops.machinery.writer import drain_events
from mcpops.objects.timestamps import fmt_time

OLD = fmt_time(datetime.now(UTC) - timedelta(days=2))


def cm(i: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"cm-{i:02d}",
            "namespace": "ns",
            "uid": f"uid-{i}",
            "creationTimestamp": OLD,
            "labels": {"app": "x"},
        }
    }


class FakeClient:
    """Serves ConfigMaps in pages of 4; deletes as told; posts Events and status nowhere."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.pages: list[str | None] = []
        self.deletes: list[tuple[str, str | None]] = []
        self.events: list[dict[str, Any]] = []
        self.refuse: dict[str, int] = {}  # name -> status code of the delete

    async def list(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        limit: int = 500,
        continue_: str | None = None,
    ) -> dict[str, Any]:
        assert label_selector == "app=x" and namespace == "ns"
        start = int(continue_ or 0)
        self.pages.append(continue_)
        end = start + 4
        meta = {"continue": str(end)} if end < len(self.items) else {}
        return {"items": [dict(i) for i in self.items[start:end]], "metadata": meta}

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert path == "/api/v1"
        return {"resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]}

    async def delete(
        self,
        api_version: str,
        plural: str,
        namespace: str,
        name: str,
        *,
        uid: str | None = None,
        propagation: str = "Background",
    ) -> bool:
        self.deletes.append((name, uid))
        code = self.refuse.get(name)
        if code:
            raise ApiError(code, {"reason": "x", "message": "no"}, "DELETE", name)
        return True

    async def patch_status(
        self, api_version: str, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        self.status = status
        return {
            "apiVersion": "mcpops.dev/v1alpha1",
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "0"},
            "status": status,
        }

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.events.append(manifest)
        return manifest


def policy(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": KIND,
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "pu",
            "generation": 1,
            "creationTimestamp": OLD,
            "resourceVersion": "1",
            "annotations": {"mcpops.dev/run-now": "1"},
        },
        "spec": {
            "schedule": "0 0 1 1 *",
            "rules": [
                {
                    "name": "cms",
                    "resources": {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "selector": {"matchLabels": {"app": "x"}},
                    },
                    "olderThan": "1d",
                }
            ],
            **spec,
        },
    }


async def test_pages_are_read_in_turn_and_uid_preconditions_are_sent() -> None:
    client = FakeClient([cm(i) for i in range(10)])
    client.refuse = {"cm-03": 409, "cm-05": 403}
    store = Store()
    store.put_parent(KIND, policy(mode="Enforce", deletesPerSecond=1000, maxDeletionsPerRun=8))
    rec = CleanupPolicyReconciler(store, client)  # type: ignore[arg-type]
    wait = await rec(("ns", "p"))
    assert wait is not None and wait > 0
    assert client.pages == [None, "4", "8"]
    assert len(client.deletes) == 8 and all(uid == f"uid-{int(n[3:])}" for n, uid in client.deletes)
    run = client.status["lastRun"]
    assert (run["matched"], run["candidates"], run["deleted"]) == (10, 10, 6)
    assert (run["skipped"], run["failed"], run["deferred"]) == (1, 1, 2)
    degraded = {c["type"]: c for c in client.status["conditions"]}["Degraded"]
    assert degraded["reason"] == "Forbidden" and "cannot delete configmaps" in degraded["message"]
    await drain_events()  # Events are posted in the background
    reasons = [e["reason"] for e in client.events]
    assert reasons.count("Deleted") == 6 and "DeleteFailed" in reasons and "Forbidden" in reasons


async def test_dry_run_deletes_nothing() -> None:
    client = FakeClient([cm(i) for i in range(3)])
    store = Store()
    store.put_parent(KIND, policy())
    await CleanupPolicyReconciler(store, client)(("ns", "p"))  # type: ignore[arg-type]
    assert client.deletes == []
    assert [c["name"] for c in client.status["candidates"]] == ["cm-00", "cm-01", "cm-02"]
