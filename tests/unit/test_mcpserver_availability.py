"""Availability across a rollout: the disruption budget follows the serving revision, a
candidate starts at the autoscaled scale of what serves, and previewReplicas tests with
fewer pods but switches only at full size."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from test_mcpserver_plan import T0, FakeCluster, server

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.api.testsuite import TestSuite
from mcpops.kinds.mcpserver import desired
from mcpops.kinds.mcpserver.plan import plan
from mcpops.objects.paths import PLURALS
from mcpops_common.names import REVISION_LABEL


def settle_all(cluster: FakeCluster) -> None:
    for name in cluster.deployments:
        cluster.settle(name, ready=True)


def healthy(cluster: FakeCluster, spec: dict[str, Any]) -> tuple[dict[str, Any], str]:
    srv = server(spec)
    cluster.run(srv, T0)
    settle_all(cluster)
    result = cluster.run(srv, T0 + timedelta(seconds=1))
    assert result.status["phase"] == "Healthy"
    return srv, str(result.status["activeRevision"])


def new_spec(srv: dict[str, Any], **changes: Any) -> None:
    srv["spec"] = {**srv["spec"], **changes}
    srv["metadata"]["generation"] += 1


def test_the_budget_follows_the_serving_revision_and_goes_when_off() -> None:
    cluster = FakeCluster()
    srv, first = healthy(cluster, {"image": "img:1", "replicas": 3})
    budget = cluster.budgets["s"]
    assert budget["spec"]["selector"]["matchLabels"][REVISION_LABEL] == first
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    new_spec(srv, image="img:2")
    result = cluster.run(srv, T0 + timedelta(seconds=2))
    second = result.status["candidateRevision"]
    # The candidate is not covered while it is tested: draining it must not wait.
    assert cluster.budgets["s"]["spec"]["selector"]["matchLabels"][REVISION_LABEL] == first
    settle_all(cluster)
    cluster.run(srv, T0 + timedelta(seconds=3))
    assert cluster.budgets["s"]["spec"]["selector"]["matchLabels"][REVISION_LABEL] == second
    new_spec(srv, disruptionBudget={"enabled": False})
    cluster.run(srv, T0 + timedelta(seconds=4))
    assert "s" not in cluster.budgets


def test_the_writer_knows_where_every_child_kind_lives() -> None:
    cluster = FakeCluster()
    srv, _ = healthy(cluster, {"image": "img:1", "replicas": 3, "autoscaling": {"maxReplicas": 5}})
    result = plan(srv, cluster.observed(), T0 + timedelta(seconds=5))
    kinds = {m["kind"] for m in result.apply} | {"PodDisruptionBudget", "HorizontalPodAutoscaler"}
    assert kinds <= set(PLURALS)


def test_no_budget_by_default_for_one_replica() -> None:
    cluster = FakeCluster()
    healthy(cluster, {"image": "img:1"})
    assert cluster.budgets == {}
    cluster = FakeCluster()
    healthy(cluster, {"image": "img:1", "disruptionBudget": {"enabled": True}})
    assert "s" in cluster.budgets


def test_a_candidate_starts_at_the_autoscaled_scale_of_what_serves() -> None:
    cluster = FakeCluster()
    spec = {"image": "img:1", "replicas": 2, "autoscaling": {"minReplicas": 2, "maxReplicas": 6}}
    srv, first = healthy(cluster, spec)
    # The HPA scaled the serving revision out to 5.
    cluster.deployments[f"s-{first}"]["spec"]["replicas"] = 5
    cluster.settle(f"s-{first}", ready=True)
    new_spec(srv, image="img:2")
    second = cluster.run(srv, T0 + timedelta(seconds=2)).status["candidateRevision"]
    assert cluster.deployments[f"s-{second}"]["spec"]["replicas"] == 5
    settle_all(cluster)
    result = cluster.run(srv, T0 + timedelta(seconds=3))
    assert result.status["activeRevision"] == second
    # Serving now, the HPA owns its size: the operator no longer sets it, after handing it
    # over once at its current value (else the API server would reset it to 1).
    assert "replicas" not in cluster.deployments[f"s-{second}"]["spec"]
    (handover,) = result.handover
    assert handover["metadata"]["name"] == f"s-{second}" and handover["spec"] == {"replicas": 5}
    assert cluster.run(srv, T0 + timedelta(seconds=4)).handover == []  # once


def test_preview_replicas_test_small_and_switch_at_full_size() -> None:
    cluster = FakeCluster()
    srv, first = healthy(cluster, {"image": "img:1", "replicas": 4})
    new_spec(srv, image="img:2", rollout={"previewReplicas": 1})
    result = cluster.run(srv, T0 + timedelta(seconds=2))
    second = result.status["candidateRevision"]
    assert cluster.deployments[f"s-{second}"]["spec"]["replicas"] == 1
    settle_all(cluster)
    # Available at one pod, no suites: tested; scaled to four, traffic still on the first.
    result = cluster.run(srv, T0 + timedelta(seconds=3))
    assert result.status["activeRevision"] == first
    assert cluster.deployments[f"s-{second}"]["spec"]["replicas"] == 4
    assert "ScalingUp" in [e.reason for e in result.events]
    # Not ready at four yet: no switch.
    result = cluster.run(srv, T0 + timedelta(seconds=4))
    assert result.status["activeRevision"] == first
    assert (
        "tests passed; scaling up"
        in {c["type"]: c for c in result.status["conditions"]}["Progressing"]["message"]
    )
    settle_all(cluster)
    result = cluster.run(srv, T0 + timedelta(seconds=5))
    assert result.status["activeRevision"] == second
    assert cluster.deployments[f"s-{second}"]["spec"]["replicas"] == 4


def test_auto_promote_seconds_holds_the_switch_for_a_while() -> None:
    cluster = FakeCluster()
    srv, first = healthy(cluster, {"image": "img:1"})
    new_spec(srv, image="img:2", rollout={"autoPromoteSeconds": 60})
    second = cluster.run(srv, T0 + timedelta(seconds=2)).status["candidateRevision"]
    settle_all(cluster)
    result = cluster.run(srv, T0 + timedelta(seconds=3))
    assert result.status["phase"] == "Promoting" and result.status["activeRevision"] == first
    assert result.requeue_after is not None and 59 <= result.requeue_after <= 60
    progressing = {c["type"]: c for c in result.status["conditions"]}["Progressing"]
    assert "autoPromoteSeconds (60s)" in progressing["message"]
    result = cluster.run(srv, T0 + timedelta(seconds=30))
    assert result.status["activeRevision"] == first
    result = cluster.run(srv, T0 + timedelta(seconds=64))
    assert result.status["activeRevision"] == second


def test_abort_scale_down_delay_keeps_the_failed_revision_up_to_inspect() -> None:
    cluster = FakeCluster()
    srv, first = healthy(cluster, {"image": "img:1", "replicas": 2})
    new_spec(srv, image="img:2", rollout={"abortScaleDownDelaySeconds": 120})
    second = cluster.run(srv, T0 + timedelta(seconds=2)).status["candidateRevision"]
    srv["metadata"]["annotations"] = {"mcpops.dev/abort": "1"}
    result = cluster.run(srv, T0 + timedelta(seconds=3))
    assert result.status["failedRevision"] == second
    assert cluster.deployments[f"s-{second}"]["spec"]["replicas"] == 2  # kept up
    assert result.requeue_after is not None and result.requeue_after <= 120
    # Out of traffic all along; scaled to zero once the window is over.
    assert cluster.services["s"]["spec"]["selector"][REVISION_LABEL] == first
    assert cluster.services["s-preview"]["spec"]["selector"][REVISION_LABEL] == first
    cluster.run(srv, T0 + timedelta(seconds=60))
    assert cluster.deployments[f"s-{second}"]["spec"]["replicas"] == 2
    cluster.run(srv, T0 + timedelta(seconds=124))
    assert cluster.deployments[f"s-{second}"]["spec"]["replicas"] == 0


def test_services_and_budget_select_the_servers_pods_not_their_test_jobs() -> None:
    """A revision's test Job pods carry its server and revision labels: a Service that
    selected them would send a runner's calls to the runner itself, and a budget over them
    cannot be counted (a Job has no scale subresource), which blocks node drains."""
    cluster = FakeCluster()
    srv, first = healthy(cluster, {"image": "img:1", "replicas": 3})
    spec = MCPServerSpec.model_validate(srv["spec"])
    suite = TestSuite.model_validate({"name": "smoke", "builtin": {"requiredTools": ["t"]}})
    job = desired.test_job(
        srv, spec, suite, revision=first, attempt=1, preview_url="http://p", baseline=None
    )
    job_pod = job["spec"]["template"]["metadata"]["labels"]
    [server_pod] = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in cluster.deployments.values()
        if d["metadata"]["labels"][REVISION_LABEL] == first
    ]
    selectors = [cluster.budgets["s"]["spec"]["selector"]["matchLabels"]]
    selectors += [svc["spec"]["selector"] for svc in cluster.services.values()]
    for selector in selectors:
        assert selector.items() <= server_pod.items()
        assert not selector.items() <= job_pod.items()
