"""The Helm chart on a real API server: install, RBAC as the API server sees it, uninstall.

Pods are simulated by kwok, so the operator pod becomes Ready without running:
what is tested here is what the API server admits (restricted Pod Security in
the `namespace` fixture) and grants (RBAC), not the operator's behaviour.

CRDs are cluster-scoped and shared by the session (fixture `crds`): releases are
installed with --skip-crds and CRDs are only ever dry-run applied here.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from clusterkit import (
    REPO,
    Cluster,
    assert_lease_rights,
    assert_rights,
    controlplane_env,
    wait_available,
)

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "mcpops"


@pytest.fixture(scope="module")
def helm(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The helm binary (MCPOPS_HELM, else the Makefile's cached build), with its own homes."""
    controlplane_env()
    path = os.environ.get("MCPOPS_HELM")
    if not path or not Path(path).is_file():
        pytest.fail(f"helm is not built ({path}): run `make helm` (or `make test-cluster`)")
    home = tmp_path_factory.mktemp("helm-home")
    saved = {
        k: os.environ.get(k) for k in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
    }
    for key in saved:
        os.environ[key] = str(home / key.lower())
    try:
        yield path
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_helm(
    helm: str, cluster: Cluster, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [helm, "--kubeconfig", cluster.kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {res.stderr}")
    return res


# What the operator must and must not be able to do where it watches.
OPERATOR_RIGHTS = {
    ("patch", "mcpservers.mcpops.dev/status"): True,
    ("patch", "optimizationjobs.mcpops.dev/status"): True,
    ("patch", "cleanuppolicies.mcpops.dev/status"): True,
    ("watch", "mcpservers.mcpops.dev"): True,
    ("patch", "mcpservers.mcpops.dev"): True,
    ("create", "deployments.apps"): True,
    ("delete", "deployments.apps"): True,
    ("create", "jobs.batch"): True,
    ("create", "configmaps"): True,
    ("create", "roles.rbac.authorization.k8s.io"): True,
    ("create", "events.events.k8s.io"): True,
    ("list", "endpointslices.discovery.k8s.io"): True,
    ("delete", "pods"): True,
    # spec.expose (HTTPRoutes asked of the API server even before their CRD is installed).
    ("create", "httproutes.gateway.networking.k8s.io"): True,
    ("delete", "httproutes.gateway.networking.k8s.io"): True,
    ("watch", "ingresses.networking.k8s.io"): True,
    ("patch", "ingresses.networking.k8s.io"): True,
    # spec.network.
    ("watch", "networkpolicies.networking.k8s.io"): True,
    ("patch", "networkpolicies.networking.k8s.io"): True,
    ("patch", "httproutes.gateway.networking.k8s.io/status"): False,
    # Secrets: listed and watched for a hash of what MCPServer pods read; created once per
    # MCPServer (its session key); never read one by one, never changed or deleted.
    ("list", "secrets"): True,
    ("watch", "secrets"): True,
    ("create", "secrets"): True,
    # Never: spec and lifetime of the parents belong to Git; no secret changes; no pods made.
    ("delete", "mcpservers.mcpops.dev"): False,
    ("update", "mcpservers.mcpops.dev"): False,
    ("create", "mcpservers.mcpops.dev"): False,
    ("get", "secrets"): False,
    ("patch", "secrets"): False,
    ("update", "secrets"): False,
    ("delete", "secrets"): False,
    ("create", "pods"): False,
    ("create", "pods/exec"): False,
    ("create", "pods/eviction"): False,
    ("update", "deployments.apps"): False,
    ("escalate", "roles.rbac.authorization.k8s.io"): False,
    ("bind", "roles.rbac.authorization.k8s.io"): False,
}


def test_helm_install_cluster_wide(crds: Cluster, namespace: str, helm: str) -> None:
    cluster = crds
    release = f"mcpops-{namespace}"  # contains the chart name: resources are named after it
    sa = f"system:serviceaccount:{namespace}:{release}"
    run_helm(
        helm,
        cluster,
        "install",
        release,
        str(CHART),
        "-n",
        namespace,
        "--skip-crds",
        "--wait=false",
    )
    try:
        dep = wait_available(cluster, release, namespace, replicas=1)
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MCPOPS_IMAGE"] == container["image"]
        assert env["MCPOPS_PROXY_IMAGE"] == container["image"].replace("/mcpops:", "/mcpops-proxy:")
        assert env["MCPOPS_LEADER_ELECT"] == "true"
        pods = cluster.list("pods", namespace, selector=f"app.kubernetes.io/instance={release}")
        assert len(pods) == 1
        assert pods[0]["spec"]["serviceAccountName"] == release

        assert_rights(cluster, sa, namespace, OPERATOR_RIGHTS)
        assert_rights(cluster, sa, "default", OPERATOR_RIGHTS)  # cluster-wide
        assert_rights(
            cluster,
            sa,
            None,
            {
                ("watch", "mcpservers.mcpops.dev"): True,
                ("list", "customresourcedefinitions.apiextensions.k8s.io"): True,
                ("list", "namespaces"): True,
                ("create", "customresourcedefinitions.apiextensions.k8s.io"): False,
                ("delete", "namespaces"): False,
            },
        )
        assert_lease_rights(cluster, sa, namespace, release)

        status = run_helm(helm, cluster, "status", release, "-n", namespace)
        assert "STATUS: deployed" in status.stdout
    finally:
        run_helm(helm, cluster, "uninstall", release, "-n", namespace, "--wait", check=False)
    assert cluster.get("clusterrole", release) is None
    assert cluster.get("clusterrolebinding", release) is None
    assert cluster.get("deployment", release, namespace) is None
    # The CRDs are not the release's: uninstall leaves them.
    assert cluster.get("crd", "mcpservers.mcpops.dev") is not None


def test_helm_install_watch_namespaces_ha(crds: Cluster, namespace: str, helm: str) -> None:
    cluster = crds
    watched = f"w-{uuid.uuid4().hex[:8]}"
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": watched, "labels": {"mcpops.dev/test": "true"}},
        }
    )
    release = f"mcpops-{namespace}"
    sa = f"system:serviceaccount:{namespace}:{release}"
    try:
        run_helm(
            helm,
            cluster,
            "install",
            release,
            str(CHART),
            "-n",
            namespace,
            "--skip-crds",
            "--set",
            f"replicaCount=2,watchNamespaces={{{watched}}}",
        )
        dep = wait_available(cluster, release, namespace, replicas=2)
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MCPOPS_NAMESPACES"] == watched
        assert env["MCPOPS_LEASE_NAME"] == release

        assert_rights(cluster, sa, watched, OPERATOR_RIGHTS)
        # Outside the watched namespaces: nothing but reading what is cluster-scoped.
        for other in (namespace, "default"):
            assert_rights(
                cluster,
                sa,
                other,
                {
                    ("create", "deployments.apps"): False,
                    ("patch", "mcpservers.mcpops.dev/status"): False,
                    ("watch", "mcpservers.mcpops.dev"): False,
                },
            )
        assert_rights(
            cluster,
            sa,
            None,
            {
                ("list", "customresourcedefinitions.apiextensions.k8s.io"): True,
                ("watch", "namespaces"): True,
                ("watch", "mcpservers.mcpops.dev"): False,
            },
        )
        assert_lease_rights(cluster, sa, namespace, release)
    finally:
        run_helm(helm, cluster, "uninstall", release, "-n", namespace, "--wait", check=False)
        cluster.kubectl("delete", "namespace", watched, "--wait=false", check=False)
    assert cluster.get("role", release, watched) is None
    assert cluster.get("clusterrole", release) is None


def test_plain_manifests_server_dry_run(crds: Cluster, namespace: str, helm: str) -> None:
    """The no-Helm path: `helm template | kubectl apply --server-side`, checked by the server."""
    cluster = crds
    release = f"mcpops-{namespace}"
    rendered = run_helm(helm, cluster, "template", release, str(CHART), "-n", namespace).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    res = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "-n", namespace, "-f", "-", input_=rendered
    )
    applied = {line.split()[0] for line in res.stdout.splitlines() if "server dry run" in line}
    for doc in docs:
        group = doc["apiVersion"].rpartition("/")[0]
        kind = f"{doc['kind'].lower()}.{group}" if group else doc["kind"].lower()
        assert f"{kind}/{doc['metadata']['name']}" in applied, res.stdout
    assert "Warning" not in res.stderr, res.stderr

    # The chart's CRDs, as `kubectl apply --server-side -f crds/` before an upgrade would send
    # them (dry run: the session's CRDs are shared and never changed here).
    res = cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", str(CHART / "crds")
    )
    assert "serverside-applied (server dry run)" in res.stdout

    # The operator pod, as the ReplicaSet would create it, is admitted by the restricted
    # Pod Security Standard; the same pod without runAsNonRoot is refused (the check bites).
    dep = next(d for d in docs if d["kind"] == "Deployment")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "operator-psa", "namespace": namespace},
        "spec": {**copy.deepcopy(dep["spec"]["template"]["spec"]), "serviceAccountName": "default"},
    }
    cluster.kubectl("create", "--dry-run=server", "-f", "-", input_=json.dumps(pod))
    bad = copy.deepcopy(pod)
    bad["spec"]["securityContext"].pop("runAsNonRoot")
    bad["spec"]["containers"][0]["securityContext"].pop("runAsNonRoot")
    refused = cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", input_=json.dumps(bad), check=False
    )
    assert refused.returncode != 0
    assert "violates PodSecurity" in refused.stderr, refused.stderr
