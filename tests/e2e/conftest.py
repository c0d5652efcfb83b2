"""Fixtures for end-to-end tests: real containers on the local cluster's real node.

The cluster is the same local control plane as tests/cluster/ (hack/cluster.py), which
also starts one real node where the machine allows it (root, cgroups, `make node`). Where it
cannot, every test here skips with one line saying why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))

from clusterkit import (
    REPO,
    Cluster,
    install_crds,
    local_cluster,
    require_built_controlplane,
)
from e2ekit import NODE_IP, image, load_images, node_unavailable, real_namespace
from toolpaths import require_tool

HELM_HOMES = ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    try:
        require_built_controlplane()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    with local_cluster() as c:
        reason = node_unavailable(c)
        if reason:
            pytest.skip(f"no real node: {reason}")
        # A cluster already running may predate the images this checkout builds.
        load_images()
        yield c


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:
    install_crds(cluster)
    return cluster


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh restricted namespace whose pods run on the real node; deleted after."""
    name = real_namespace(cluster, "e2e", restricted=True)
    yield name
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        dump = cluster.kubectl("get", "all,events", "-n", name, "-o", "wide", check=False)
        print(f"--- namespace {name} at failure ---\n{dump.stdout}")
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@dataclass
class Installed:
    """The operator as users install it: `helm install` of the chart, running as a pod."""

    namespace: str
    release: str
    pod: str


@pytest.fixture(scope="session")
def installed(crds: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """helm install the chart with the locally built images into a restricted namespace on
    the real node; the operator watches the whole cluster from there. Uninstalled after."""
    helm = require_tool("MCPOPS_HELM", "helm")
    home = tmp_path_factory.mktemp("helm-home")
    env = {**os.environ, **{k: str(home / k.lower()) for k in HELM_HOMES}}
    ns = real_namespace(crds, "e2e-system", restricted=True)
    repo, _, tag = image("mcpops").rpartition(":")
    proxy_repo, _, proxy_tag = image("mcpops-proxy").rpartition(":")
    release = "mcpops"
    args = [
        helm, "--kubeconfig", crds.kubeconfig, "install", release, str(REPO / "charts" / "mcpops"),
        "-n", ns, "--skip-crds", "--wait", "--timeout", "180s",
        "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
        "--set", "image.pullPolicy=Never",
        "--set", f"proxyImage.repository={proxy_repo}", "--set", f"proxyImage.tag={proxy_tag}",
        "--set", "logLevel=DEBUG",
        # CoreDNS runs on the real node itself (hack/realnode.py), not as pods.
        "--set", f"networkPolicy.clusterDNS={NODE_IP}/32",
    ]  # fmt: skip
    res = subprocess.run(args, capture_output=True, text=True, env=env, timeout=240, check=False)
    if res.returncode != 0:
        dump = crds.kubectl("describe", "pods", "-n", ns, check=False).stdout
        pytest.fail(f"helm install failed: {res.stderr}\n{dump[-4000:]}")
    pods = crds.list("pods", ns, "app.kubernetes.io/name=mcpops")
    assert len(pods) == 1, pods
    yield Installed(ns, release, pods[0]["metadata"]["name"])
    logs = crds.kubectl("logs", "-n", ns, pods[0]["metadata"]["name"], "--tail=-1", check=False)
    log_dir = Path(os.environ.get("MCPOPS_TEST_LOGS", tmp_path_factory.mktemp("operator")))
    (log_dir / "operator-pod.log").write_text(logs.stdout)
    subprocess.run(
        [helm, "--kubeconfig", crds.kubeconfig, "uninstall", release, "-n", ns, "--wait"],
        env=env, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    crds.kubectl("delete", "namespace", ns, "--wait=false", check=False)
