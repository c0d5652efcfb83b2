"""The MCPServer decision function, over plain data."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver.desired import revision_of
from mcpops.kinds.mcpserver.plan import Observed, deployment_available, plan
from mcpops_common.names import HASH_ANNOTATION, REVISION_LABEL

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def server(
    spec: dict[str, Any], generation: int = 1, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": "s", "namespace": "ns", "uid": "u-1", "generation": generation},
        "spec": spec,
        "status": status or {},
    }


class FakeCluster:
    """Applies plans the way the API server would, as far as the plan can tell."""

    def __init__(self) -> None:
        self.deployments: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.budgets: dict[str, dict[str, Any]] = {}
        self.hpas: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}  # NetworkPolicies
        self.uid = 0

    def observed(self) -> Observed:
        deployments = {
            d["metadata"]["labels"][REVISION_LABEL]: d for d in self.deployments.values()
        }
        slices = {}
        for name, svc in self.services.items():
            dep = deployments.get(svc["spec"]["selector"][REVISION_LABEL])
            ready = (dep or {}).get("status", {}).get("readyReplicas", 0)
            slices[f"{name}-abc"] = {
                "metadata": {"labels": {"kubernetes.io/service-name": name}},
                "endpoints": [{"conditions": {"ready": True}} for _ in range(ready)],
            }
        return Observed(
            deployments=deployments,
            services=dict(self.services),
            endpoint_slices=slices,
            budgets=dict(self.budgets),
            hpas=dict(self.hpas),
            network_policies=dict(self.policies),
        )

    def apply(self, manifest: dict[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        store = {
            "Deployment": self.deployments,
            "PodDisruptionBudget": self.budgets,
            "HorizontalPodAutoscaler": self.hpas,
            "NetworkPolicy": self.policies,
        }.get(manifest["kind"], self.services)
        live = store.get(name)
        body = copy.deepcopy(manifest)
        if live is None:
            self.uid += 1
            body["metadata"]["uid"] = f"uid-{self.uid}"
            body["metadata"]["generation"] = 1
            body["status"] = {}
        else:
            body["metadata"]["uid"] = live["metadata"]["uid"]
            changed = live["spec"] != body["spec"]
            body["metadata"]["generation"] = live["metadata"]["generation"] + int(changed)
            body["status"] = live["status"]
        store[name] = body

    def settle(self, name: str, *, ready: bool) -> None:
        """The Deployment controller and kubelet catch up (or the pods never get ready)."""
        dep = self.deployments[name]
        replicas = dep["spec"].get("replicas", 1)
        dep["status"] = {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas if ready else 0,
            "availableReplicas": replicas if ready else 0,
        }

    def delete(self, kind: str, name: str) -> None:
        stores = {
            "PodDisruptionBudget": self.budgets,
            "HorizontalPodAutoscaler": self.hpas,
            "NetworkPolicy": self.policies,
        }
        stores.get(kind, self.deployments).pop(name, None)

    def commit(self, srv: dict[str, Any], result: Any) -> Any:
        """Apply a plan's writes, as the reconciler would."""
        for manifest in result.apply:
            self.apply(manifest)
        for gone in result.delete:
            self.delete(gone.kind, gone.name)
        srv["status"] = result.status
        return result

    def run(self, srv: dict[str, Any], now: datetime) -> Any:
        return self.commit(srv, plan(srv, self.observed(), now))


def test_first_revision_becomes_active_once_available() -> None:
    cluster = FakeCluster()
    srv = server({"image": "img:1"})
    result = cluster.run(srv, T0)
    rev = revision_of("s", MCPServerSpec.model_validate(srv["spec"]))
    assert result.status["phase"] == "Progressing"
    assert result.status["candidateRevision"] == rev
    assert "activeRevision" not in result.status
    assert cluster.services["s"]["spec"]["selector"][REVISION_LABEL] == "none"
    cluster.settle(f"s-{rev}", ready=True)
    result = cluster.run(srv, T0 + timedelta(seconds=1))
    assert result.status["activeRevision"] == rev
    assert result.status["phase"] == "Healthy"
    assert cluster.services["s"]["spec"]["selector"][REVISION_LABEL] == rev
    assert [e.reason for e in result.events] == ["TrafficSwitched"]


def test_idempotent_when_nothing_changed() -> None:
    cluster = FakeCluster()
    srv = server({"image": "img:1", "replicas": 2})
    cluster.run(srv, T0)
    for name in cluster.deployments:
        cluster.settle(name, ready=True)
    cluster.run(srv, T0)
    status_before = copy.deepcopy(srv["status"])
    result = cluster.run(srv, T0 + timedelta(minutes=5))
    assert result.apply == [] and result.delete == [] and result.events == []
    assert result.status == status_before
    # Deployment, stable and preview Service, PodDisruptionBudget (two replicas),
    # NetworkPolicy.
    assert result.skipped_writes == 5


def test_replicas_change_keeps_revision() -> None:
    one = MCPServerSpec.model_validate({"image": "img:1", "replicas": 1})
    three = MCPServerSpec.model_validate({"image": "img:1", "replicas": 3})
    other = MCPServerSpec.model_validate({"image": "img:2", "replicas": 1})
    assert revision_of("s", one) == revision_of("s", three)
    assert revision_of("s", one) != revision_of("s", other)


def test_invalid_spec_reports_field_and_touches_nothing() -> None:
    srv = server({"image": "img:1", "port": "not-a-port"})
    result = plan(srv, Observed(), T0)
    assert result.apply == [] and result.delete == []
    ready = next(c for c in result.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidSpec" and "spec.port" in ready["message"]
    assert result.events and result.events[0].type == "Warning"


def test_every_child_is_owned_and_labelled() -> None:
    result = plan(server({"image": "img:1"}), Observed(), T0)
    assert {m["kind"] for m in result.apply} == {"Deployment", "Service", "NetworkPolicy"}
    for manifest in result.apply:
        meta = manifest["metadata"]
        assert meta["ownerReferences"][0]["uid"] == "u-1"
        assert meta["annotations"][HASH_ANNOTATION]
        for key in ("name", "instance", "managed-by", "part-of"):
            assert f"app.kubernetes.io/{key}" in meta["labels"]


def test_pod_template_is_restricted_with_resources() -> None:
    result = plan(server({"image": "img:1"}), Observed(), T0)
    dep = next(m for m in result.apply if m["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["containers"] + pod.get("initContainers", []):
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert ctx["readOnlyRootFilesystem"] is True
        assert container["resources"]["requests"] and container["resources"]["limits"]


# ---------------------------------------------------------------- property-based

steps = st.lists(
    st.tuples(
        st.sampled_from(["img:1", "img:2", "img:3", "img:4"]),  # the spec's image at this step
        st.integers(min_value=0, max_value=3),  # replicas
        st.booleans(),  # do pods of the newest Deployment become ready?
        st.booleans(),  # does the controller catch up before the next reconcile?
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, history=st.integers(min_value=0, max_value=4))
def test_traffic_only_on_revisions_seen_available(
    steps: list[tuple[str, int, bool, bool]], history: int
) -> None:
    cluster = FakeCluster()
    srv = server({"image": "img:1", "rollout": {"revisionHistoryLimit": history}})
    seen_available: set[str] = set()
    now = T0
    for generation, (image, replicas, ready, settle) in enumerate(steps, start=1):
        srv["spec"] = {**srv["spec"], "image": image, "replicas": replicas}
        srv["metadata"]["generation"] = generation
        for _ in range(2):
            for rev, dep in cluster.observed().deployments.items():
                if deployment_available(dep, dep["spec"].get("replicas", 1)):
                    seen_available.add(rev)
            before = srv["status"].get("activeRevision")
            result = cluster.run(srv, now)
            now += timedelta(seconds=1)
            active = result.status.get("activeRevision")
            selector = cluster.services["s"]["spec"]["selector"][REVISION_LABEL]
            # The stable Service and status agree, in the same reconcile.
            assert selector == (active or "none")
            # Traffic moves only to a revision whose Deployment was seen available.
            if active != before:
                assert active in seen_available
            # Never more running Deployments than active + candidate + the previous one
            # (kept up for a fast undo during its window).
            running = [d for d in cluster.deployments.values() if d["spec"].get("replicas", 1)]
            assert len(running) <= 3
            # Old revisions kept within the limit (plus those four roles and the failed one).
            assert len(cluster.deployments) <= history + 4
            assert result.status["observedGeneration"] == generation
            if settle:
                for name in cluster.deployments:
                    newest = name.endswith(result.status.get("candidateRevision") or "~")
                    cluster.settle(name, ready=ready or not newest)


@settings(max_examples=200, deadline=None)
@given(steps=steps)
def test_converges_then_writes_nothing(steps: list[tuple[str, int, bool, bool]]) -> None:
    """Whatever happened before, once the cluster stops changing the plan goes quiet."""
    cluster = FakeCluster()
    srv = server({"image": "img:1"})
    for generation, (image, replicas, ready, _) in enumerate(steps, start=1):
        srv["spec"] = {"image": image, "replicas": replicas}
        srv["metadata"]["generation"] = generation
        for _ in range(6):
            before = copy.deepcopy(srv["status"])
            result = cluster.run(srv, T0)
            if not result.apply and not result.delete and result.status == before:
                assert result.events == []
                break
            for name in list(cluster.deployments):
                cluster.settle(name, ready=ready)
        else:
            raise AssertionError("did not converge in 6 reconciles")
        wanted = revision_of("s", MCPServerSpec.model_validate(srv["spec"]))
        if ready and srv["status"].get("failedRevision") != wanted:
            assert srv["status"]["activeRevision"] == wanted
            assert "candidateRevision" not in srv["status"]


def test_status_merge_patch_drops_nested_keys() -> None:
    from mcpops.objects.patch import merge_patch, status_patch

    old = {"a": 1, "rollout": {"revision": "x", "attempt": 1}, "gone": True}
    new = {"a": 1, "rollout": {"attempt": 2}, "list": [1]}
    patch = merge_patch(old, new)
    assert patch == {"rollout": {"revision": None, "attempt": 2}, "list": [1], "gone": None}

    def apply(target: dict, p: dict) -> dict:  # RFC 7386
        out = dict(target)
        for k, v in p.items():
            if v is None:
                out.pop(k, None)
            elif isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = apply(out[k], v)
            else:
                out[k] = v
        return out

    assert apply(old, patch) == new
    assert status_patch(new, new) is None
