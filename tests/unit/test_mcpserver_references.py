"""ConfigMaps and Secrets the pods read are part of the revision: a change rolls out, a
missing one holds the rollout (naming it), and no value is kept or shown."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from test_mcpserver_plan import T0, FakeCluster, server

from mcpops.kinds.mcpserver import references
from mcpops.kinds.mcpserver.plan import Observed, plan
from mcpops.kinds.mcpserver.reconciler import observe, reads, route, trim
from mcpops.machinery.store import Store
from mcpops_common.names import CONFIG_HASH_ANNOTATION

SECRET_VALUE = "s3cr3t-value-never-shown"

SPEC: dict[str, Any] = {
    "image": "img:1",
    "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}],
    "envFrom": [{"configMapRef": {"name": "settings"}}],
    "volumes": [
        {"name": "conf", "configMap": {"name": "files"}},
        {"name": "opt", "secret": {"secretName": "maybe", "optional": True}},
        {"name": "all", "projected": {"sources": [{"secret": {"name": "creds"}}]}},
    ],
    "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}],
}


def config(kind: str, name: str, data: dict[str, str], rv: str = "1") -> dict[str, Any]:
    return trim(
        kind,
        {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, "uid": name},
            "data": data,
        },
    )


def configs(token: str = SECRET_VALUE, rv: str = "1") -> dict[tuple[str, str], Any]:
    return {
        ("Secret", "creds"): config("Secret", "creds", {"token": token}, rv),
        ("ConfigMap", "settings"): config("ConfigMap", "settings", {"MODE": "a"}),
        ("ConfigMap", "files"): config("ConfigMap", "files", {"a.yaml": "x: 1"}),
    }


class ConfigCluster(FakeCluster):
    def __init__(self) -> None:
        super().__init__()
        self.configs: dict[tuple[str, str], Any] = {}

    def observed(self) -> Observed:
        obs = super().observed()
        obs.configs = dict(self.configs)
        return obs


def settle_all(cluster: FakeCluster) -> None:
    for name in cluster.deployments:
        cluster.settle(name, ready=True)


def test_every_reference_is_found_with_where_it_is() -> None:
    refs = references.references(SPEC)
    assert [(r.kind, r.name, r.field, r.optional) for r in refs] == [
        ("Secret", "creds", "spec.env[0].valueFrom.secretKeyRef", False),
        ("ConfigMap", "settings", "spec.envFrom[0].configMapRef", False),
        ("ConfigMap", "files", "spec.volumes[0].configMap", False),
        ("Secret", "maybe", "spec.volumes[1].secret", True),
        ("Secret", "creds", "spec.volumes[2].projected.sources[0].secret", False),
    ]


def test_the_store_keeps_a_hash_never_the_values() -> None:
    kept = config("Secret", "creds", {"token": SECRET_VALUE})
    assert SECRET_VALUE not in json.dumps(list(kept.values()))
    assert set(kept) == {"apiVersion", "kind", "metadata", references.DATA_HASH}
    assert (
        kept[references.DATA_HASH]
        != config("Secret", "creds", {"token": "other"})[references.DATA_HASH]
    )


def test_a_missing_reference_holds_the_revision_and_names_it() -> None:
    cluster = ConfigCluster()
    srv = server(dict(SPEC))
    result = cluster.run(srv, T0)
    assert cluster.deployments == {}  # no half-made revision
    assert "candidateRevision" not in result.status and not result.status["revisions"]
    assert result.status["phase"] == "Pending"
    cond = {c["type"]: c for c in result.status["conditions"]}["ReferencesResolved"]
    assert cond["status"] == "False" and cond["reason"] == "MissingReference"
    assert "Secret creds (spec.env[0].valueFrom.secretKeyRef) does not exist" in cond["message"]
    assert "Secret maybe" not in cond["message"]  # optional: not waited for
    # The NetworkPolicy is made at once (it selects no pod yet): nothing else.
    assert [e.reason for e in result.events] == [
        "MissingReference",
        "NetworkPolicyApplied",
        "OpenToCluster",
    ]
    # Said once, not on every reconcile while it is missing.
    assert [e.reason for e in cluster.run(srv, T0 + timedelta(seconds=5)).events] == []
    # It appears: the rollout proceeds.
    cluster.configs = configs()
    result = cluster.run(srv, T0 + timedelta(seconds=10))
    assert result.status.get("candidateRevision") and len(cluster.deployments) == 1
    settle_all(cluster)
    result = cluster.run(srv, T0 + timedelta(seconds=11))
    assert result.status["phase"] == "Healthy"
    assert result.status["references"] == [
        {"kind": "ConfigMap", "name": "files", "resourceVersion": "1"},
        {"kind": "ConfigMap", "name": "settings", "resourceVersion": "1"},
        {"kind": "Secret", "name": "creds", "resourceVersion": "1"},
    ]
    cond = {c["type"]: c for c in result.status["conditions"]}["ReferencesResolved"]
    assert cond["status"] == "True"


def test_a_changed_secret_is_a_new_revision_through_blue_green() -> None:
    cluster = ConfigCluster()
    cluster.configs = configs()
    srv = server(dict(SPEC))
    cluster.run(srv, T0)
    settle_all(cluster)
    first = cluster.run(srv, T0 + timedelta(seconds=1)).status["activeRevision"]
    # Only metadata changed (a new resourceVersion, same data): the same revision.
    cluster.configs = configs(rv="2")
    assert cluster.run(srv, T0 + timedelta(seconds=2)).status.get("candidateRevision") is None
    # The value changed: a new candidate, while the old revision keeps serving.
    cluster.configs = configs(token="rotated", rv="3")
    result = cluster.run(srv, T0 + timedelta(seconds=3))
    second = result.status["candidateRevision"]
    assert second != first and result.status["activeRevision"] == first
    assert [e.reason for e in result.events] == ["RolloutStarted"]
    hashes = {
        d["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
        for d in cluster.deployments.values()
    }
    assert len(hashes) == 2
    settle_all(cluster)
    result = cluster.run(srv, T0 + timedelta(seconds=4))
    assert result.status["activeRevision"] == second
    everything = json.dumps([result.status, [e.message for e in result.events]])
    assert SECRET_VALUE not in everything and "rotated" not in everything


def test_a_spec_reading_nothing_has_no_config_hash_and_no_condition() -> None:
    result = plan(server({"image": "img:1"}), Observed(), T0)
    (dep,) = [m for m in result.apply if m["kind"] == "Deployment"]
    assert CONFIG_HASH_ANNOTATION not in (
        dep["spec"]["template"]["metadata"].get("annotations") or {}
    )
    assert "ReferencesResolved" not in {c["type"] for c in result.status["conditions"]}
    assert "references" not in result.status


def test_a_config_event_wakes_only_the_servers_that_read_it() -> None:
    store = Store(trim=trim, reads=reads)
    reader = server(dict(SPEC))
    other = server({"image": "img:1"})
    other["metadata"] = {**other["metadata"], "name": "other"}
    elsewhere = server(dict(SPEC))
    elsewhere["metadata"] = {**elsewhere["metadata"], "namespace": "ns2"}
    for body in (reader, other, elsewhere):
        store.put_parent("MCPServer", body)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "ns", "resourceVersion": "7", "uid": "c"},
        "data": {"token": SECRET_VALUE},
    }
    woken = route(store, "Secret", {"type": "ADDED", "object": secret})
    assert woken == [("ns", "s")]
    kept = observe(store, ("ns", "s")).configs
    assert set(kept) == {("Secret", "creds")} and SECRET_VALUE not in json.dumps(
        list(kept.values())
    )
    assert route(store, "Secret", {"type": "DELETED", "object": secret}) == [("ns", "s")]
    assert observe(store, ("ns", "s")).configs == {}
    unrelated = {**secret, "metadata": {**secret["metadata"], "name": "helm-release"}}
    assert route(store, "Secret", {"type": "ADDED", "object": unrelated}) == []


def test_a_malformed_spec_routes_nothing_instead_of_failing() -> None:
    odd: dict[str, Any] = {
        "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"key": "no-name"}}}, "x"],
        "envFrom": "not a list",
        "volumes": [{"name": "v", "secret": {"secretName": 7}}, {"projected": {"sources": 1}}],
    }
    assert references.references(odd) == []
