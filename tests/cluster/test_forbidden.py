"""An operator short of an RBAC right says so in status and an Event, then recovers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clusterkit import Cluster, OperatorProcess, token_kubeconfig, wait_until
from test_mcpserver import cond, mcpserver, status, wait_ready

SA = "limited-operator"
WATCH = ["get", "list", "watch"]


def role(namespace: str, deployments: list[str]) -> dict[str, Any]:
    rules = [
        {"apiGroups": ["mcpops.dev"], "resources": ["mcpservers"], "verbs": [*WATCH, "patch"]},
        {"apiGroups": ["mcpops.dev"], "resources": ["mcpservers/status"], "verbs": ["patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": deployments},
        {"apiGroups": [""], "resources": ["services"], "verbs": [*WATCH, "create", "patch"]},
        {"apiGroups": [""], "resources": ["pods", "configmaps", "serviceaccounts"], "verbs": WATCH},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch", "create"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": WATCH},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": WATCH},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": WATCH},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": WATCH},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": WATCH},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": [*WATCH, "create", "patch"],
        },
        {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes"], "verbs": WATCH},
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles", "rolebindings"],
            "verbs": WATCH,
        },
        {
            "apiGroups": ["mcpops.dev"],
            "resources": ["optimizationjobs", "cleanuppolicies"],
            "verbs": WATCH,
        },
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": SA, "namespace": namespace},
        "rules": rules,
    }


@pytest.fixture
def limited_operator(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """An operator watching only `namespace`, as a ServiceAccount that may read but not
    write Deployments there (the session's admin operator is stopped meanwhile)."""
    cluster.kubectl("create", "serviceaccount", SA, "-n", namespace)
    cluster.apply(role(namespace, WATCH))
    cluster.kubectl(
        "create", "rolebinding", SA, "-n", namespace, f"--role={SA}",
        f"--serviceaccount={namespace}:{SA}",
    )  # fmt: skip
    # What the chart's ClusterRole always grants: Kopf reads CRDs and namespaces.
    cluster.kubectl(
        "create", "clusterrole", f"{namespace}-crds", "--verb=get,list,watch",
        "--resource=customresourcedefinitions.apiextensions.k8s.io", "--resource=namespaces",
    )  # fmt: skip
    cluster.kubectl(
        "create", "clusterrolebinding", f"{namespace}-crds", f"--clusterrole={namespace}-crds",
        f"--serviceaccount={namespace}:{SA}",
    )  # fmt: skip
    kubeconfig = token_kubeconfig(cluster, SA, namespace, tmp_path / "limited.kubeconfig")
    operator.stop()
    limited = OperatorProcess(
        str(kubeconfig), tmp_path / "limited.log", env={"MCPOPS_NAMESPACES": namespace}
    )
    try:
        limited.start()
        yield limited
    finally:
        limited.stop()
        for kind in ("clusterrolebinding", "clusterrole"):
            cluster.kubectl("delete", kind, f"{namespace}-crds", check=False)
        operator.start()


def test_missing_right_is_a_condition_and_an_event(
    cluster: Cluster, limited_operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("needs-rights"), namespace)
    st = wait_until(
        lambda: (
            (s := status(cluster, "needs-rights", namespace))
            and cond(s, "Degraded").get("reason") == "Forbidden"
            and s
        ),
        timeout=60,
        what="Degraded/Forbidden",
    )
    degraded = cond(st, "Degraded")
    assert degraded["status"] == "True"
    assert "deployments" in degraded["message"] and "cannot" in degraded["message"]
    assert cond(st, "Ready")["reason"] == "Forbidden"
    warnings = cluster.wait_events(namespace, "needs-rights", reason="Forbidden")
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    assert limited_operator.ready()  # no crash, no crash loop

    # A person grants the right; the next reconcile (here nudged) goes through.
    cluster.apply(role(namespace, [*WATCH, "create", "patch", "delete"]))
    cluster.kubectl(
        "annotate", "mcpserver", "needs-rights", "-n", namespace, "nudge=1", "--overwrite"
    )
    ready = wait_ready(cluster, "needs-rights", namespace, timeout=90)
    assert cond(ready, "Degraded")["status"] == "False"
    assert json.dumps(ready).count("Forbidden") == 0
