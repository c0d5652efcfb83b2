"""The no-Helm install: `kubectl apply -f crds/` and the committed deploy/mcpops.yaml.

deploy/mcpops.yaml is what `make manifests` renders from the chart (and
`make manifests-check` keeps equal to it); here it is applied exactly as a user
would, to its fixed namespace mcpops-system, and removed again. The operator
pod is simulated by kwok: what is tested is what the API server admits
(restricted Pod Security on the manifest's own Namespace) and grants (RBAC).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from clusterkit import REPO, Cluster, assert_lease_rights, assert_rights, can_i, wait_available
from test_helm_install import OPERATOR_RIGHTS

pytestmark = pytest.mark.cluster

MANIFEST = REPO / "deploy" / "mcpops.yaml"
NAMESPACE = "mcpops-system"
SA = f"system:serviceaccount:{NAMESPACE}:mcpops"


def resource(doc: dict[str, Any]) -> str:
    api_version = str(doc["apiVersion"])
    group = api_version.rpartition("/")[0]
    kind = str(doc["kind"]).lower()
    return f"{kind}.{group}" if group else kind


@pytest.fixture
def installed(crds: Cluster) -> Iterator[Cluster]:
    # crds/ is applied by the session fixture `crds`, the same command the docs give.
    crds.kubectl("apply", "--server-side", "-f", str(MANIFEST))
    try:
        yield crds
    finally:
        crds.kubectl("delete", "-f", str(MANIFEST), "--ignore-not-found", "--wait=false")
        # The namespace is fixed: the next run must not find it terminating.
        crds.kubectl(
            "wait",
            "--for=delete",
            f"namespace/{NAMESPACE}",
            "--timeout=120s",
            check=False,
            timeout=150,
        )


def test_crds_and_plain_manifests_install_a_working_operator(installed: Cluster) -> None:
    cluster = installed
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    assert docs[0]["kind"] == "Namespace"
    for doc in docs:
        assert live(cluster, doc)["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mcpops"
    assert docs[-1]["kind"] == "Deployment"

    dep = wait_available(cluster, "mcpops", NAMESPACE, replicas=1)
    (pod,) = cluster.list("pods", NAMESPACE, selector="app.kubernetes.io/instance=mcpops")
    assert pod["spec"]["serviceAccountName"] == "mcpops"
    namespace = live(cluster, docs[0])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

    # RBAC as the API server sees it: everywhere (cluster-wide default), and the leader
    # election Lease only in its own namespace.
    assert_rights(cluster, SA, NAMESPACE, OPERATOR_RIGHTS)
    assert_rights(cluster, SA, "default", OPERATOR_RIGHTS)
    assert_lease_rights(cluster, SA, NAMESPACE, "mcpops")
    assert not can_i(cluster, SA, "create", "customresourcedefinitions.apiextensions.k8s.io", None)

    # Applying the same file again changes nothing (what a GitOps sync does every time).
    before = [live(cluster, d)["metadata"]["resourceVersion"] for d in docs]
    res = cluster.kubectl("apply", "--server-side", "-f", str(MANIFEST))
    assert res.stdout.count("serverside-applied") == len(docs)
    assert [live(cluster, d)["metadata"]["resourceVersion"] for d in docs] == before
    assert live(cluster, docs[-1])["metadata"]["generation"] == dep["metadata"]["generation"]


def live(cluster: Cluster, doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc["metadata"]
    found = cluster.get(resource(doc), meta["name"], meta.get("namespace"))
    assert found is not None, f"{doc['kind']}/{meta['name']} is missing"
    return found
