"""Fixtures for tests on a Kubernetes control plane.

Providers, chosen by MCPOPS_TEST_CLUSTER:
  local    (default) the project's own control plane (hack/cluster.py), one per session;
           reused if `make cluster-up` already started one, stopped at the end otherwise.
  kind     a kind cluster through pytest-kind; skipped, with the reason, without kind/Docker.
  existing the cluster KUBECONFIG names; needs MCPOPS_TEST_EXISTING_CLUSTER=1 as an opt-in,
           since the tests create and delete namespaces there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from clusterkit import (
    Cluster,
    OperatorProcess,
    install_crds,
    local_cluster,
    make_namespace,
    require_built_controlplane,
)

pytestmark = pytest.mark.cluster


def _local_cluster() -> Iterator[Cluster]:
    try:
        require_built_controlplane()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    with local_cluster() as cluster:
        yield cluster


def _kind_cluster() -> Iterator[Cluster]:
    missing = [tool for tool in ("kind", "docker", "kubectl") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"kind provider needs {', '.join(missing)} on PATH (not found)")
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("kind provider needs a running Docker engine (docker info failed)")
    from pytest_kind import KindCluster  # type: ignore[import-untyped]

    kind = KindCluster("mcpops-test")
    kind.create()
    try:
        yield Cluster(
            kubeconfig=str(kind.kubeconfig_path),
            kubectl_path=shutil.which("kubectl") or "kubectl",
            provider="kind",
        )
    finally:
        kind.delete()


def _existing_cluster() -> Iterator[Cluster]:
    if os.environ.get("MCPOPS_TEST_EXISTING_CLUSTER") != "1":
        pytest.skip("existing-cluster provider needs MCPOPS_TEST_EXISTING_CLUSTER=1 (opt-in)")
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        pytest.skip("existing-cluster provider needs KUBECONFIG")
    yield Cluster(kubeconfig, shutil.which("kubectl") or "kubectl", "existing")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    provider = os.environ.get("MCPOPS_TEST_CLUSTER", "local")
    factory = {"local": _local_cluster, "kind": _kind_cluster, "existing": _existing_cluster}
    if provider not in factory:
        pytest.fail(f"MCPOPS_TEST_CLUSTER={provider!r}: use local, kind or existing")
    yield from factory[provider]()


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:
    install_crds(cluster)
    return cluster


@pytest.fixture(scope="session")
def operator(crds: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    log_dir = Path(os.environ.get("MCPOPS_TEST_LOGS", tmp_path_factory.mktemp("operator")))
    proc = OperatorProcess(crds.kubeconfig, log_dir / "operator.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace enforcing the restricted Pod Security Standard, deleted after."""
    name = make_namespace(cluster, "t", restricted=True)
    yield name
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        dump = cluster.kubectl("get", "all,events", "-n", name, "-o", "wide", check=False)
        print(f"--- namespace {name} at failure ---\n{dump.stdout}")
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
