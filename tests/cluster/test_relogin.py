"""The operator logs in again when the API server stops taking its token (401).

The tokens really rotate on the control plane: ServiceAccount tokens from the TokenRequest
API, each bound to a Secret, so that deleting the Secret revokes the token, while the
kubeconfig is rewritten with a new one. That is what a short-lived token, a refreshed
kubeconfig or a rotated projected token does to a running operator.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from clusterkit import Cluster, OperatorProcess, wait_until
from prometheus_client import REGISTRY
from test_mcpserver import mcpserver, patch_spec, wait_ready

from mcpops.machinery import login
from mcpops.machinery.client import ApiError, Client

SA = "rotating"


class Rotation:
    """A ServiceAccount whose tokens are issued and revoked at will, and a kubeconfig file
    that holds the current one."""

    def __init__(self, cluster: Cluster, namespace: str, workdir: Path) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.kubeconfig = str(workdir / "kubeconfig-rotating")
        cfg = json.loads(Path(cluster.kubeconfig).read_text())
        self.server = cfg["clusters"][0]["cluster"]["server"]
        self.ca = cfg["clusters"][0]["cluster"]["certificate-authority"]
        cluster.kubectl("create", "serviceaccount", SA, "-n", namespace)

    def issue(self, secret: str) -> str:
        """A token bound to a new Secret: valid until the Secret is deleted."""
        self.cluster.kubectl("create", "secret", "generic", secret, "-n", self.namespace)
        return self.cluster.kubectl(
            "create", "token", SA, "-n", self.namespace, "--duration", "1h",
            "--bound-object-kind", "Secret", "--bound-object-name", secret,
        ).stdout.strip()  # fmt: skip

    def use(self, token: str) -> None:
        """The kubeconfig names this token from now on (replaced whole, as a refresh does)."""
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "c", "cluster": {"server": self.server, "certificate-authority": self.ca}}
            ],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        }
        tmp = Path(self.kubeconfig + ".tmp")
        tmp.write_text(json.dumps(cfg))
        tmp.replace(self.kubeconfig)

    def refused(self, token: str) -> bool:
        request = urllib.request.Request(
            f"{self.server}/api", headers={"Authorization": f"Bearer {token}"}
        )
        context = ssl.create_default_context(cafile=self.ca)
        try:
            with urllib.request.urlopen(request, timeout=5, context=context):
                return False
        except urllib.error.HTTPError as exc:
            return exc.code == 401

    def revoke(self, secret: str, token: str) -> None:
        """Delete the Secret the token is bound to; return once the API server refuses it
        (its token cache keeps a valid token for up to about ten seconds)."""
        self.cluster.kubectl("delete", "secret", secret, "-n", self.namespace)
        wait_until(lambda: self.refused(token), timeout=60, what=f"token of {secret} refused")


def logins(outcome: str) -> float:
    return REGISTRY.get_sample_value("mcpops_api_logins_total", {"outcome": outcome}) or 0.0


@pytest.fixture
def rotation(cluster: Cluster, namespace: str, tmp_path: Path) -> Rotation:
    if cluster.provider != "local":
        pytest.skip("reads the local control plane's CA from its kubeconfig")
    return Rotation(cluster, namespace, tmp_path)


async def test_the_client_logs_in_again_when_its_token_is_revoked(
    cluster: Cluster, namespace: str, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.kubectl(
        "create", "role", "reader", "-n", namespace, "--verb=get,list,watch",
        "--resource=configmaps",
    )  # fmt: skip
    cluster.kubectl(
        "create", "rolebinding", "reader", "-n", namespace, "--role=reader",
        f"--serviceaccount={namespace}:{SA}",
    )  # fmt: skip
    first = rotation.issue("token-a")
    rotation.use(first)
    monkeypatch.setenv("KUBECONFIG", rotation.kubeconfig)
    client = Client(login=login.login)
    try:
        page = await client.list("v1", "configmaps", namespace)
        assert client.token == first
        rv = page["metadata"]["resourceVersion"]

        # A watch (as the informers run them) after the token was replaced and revoked.
        second = rotation.issue("token-b")
        rotation.use(second)
        rotation.revoke("token-a", first)
        renewed = logins("renewed")
        events = [
            e
            async for e in client.watch(
                "v1", "configmaps", namespace, resource_version=rv, timeout_seconds=1
            )
        ]
        assert all(e.get("type") != "ERROR" for e in events)
        assert client.token == second
        assert logins("renewed") == renewed + 1

        # A write, likewise.
        third = rotation.issue("token-c")
        rotation.use(third)
        rotation.revoke("token-b", second)
        with pytest.raises(ApiError) as forbidden:  # logged in again; RBAC has the last word
            await client.create(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                    "name": "x", "namespace": namespace}}
            )  # fmt: skip
        assert forbidden.value.status == 403
        assert client.token == third
        assert logins("renewed") == renewed + 2

        # Revoked with nothing newer to take: the 401 stands, once, no loop.
        unchanged = logins("unchanged")
        rotation.revoke("token-c", third)
        with pytest.raises(ApiError) as refused:
            await client.list("v1", "configmaps", namespace)
        assert refused.value.status == 401
        assert logins("unchanged") == unchanged + 1
    finally:
        await client.close()


@pytest.fixture
def operator_on_rotating_token(
    cluster: Cluster, operator: OperatorProcess, rotation: Rotation, namespace: str
) -> Iterator[Rotation]:
    """The session's operator, restarted with a revocable token of a ServiceAccount bound to
    cluster-admin, and restored afterwards."""
    binding = f"mcpops-relogin-{namespace}"
    cluster.kubectl(
        "create", "clusterrolebinding", binding, "--clusterrole=cluster-admin",
        f"--serviceaccount={namespace}:{SA}",
    )  # fmt: skip
    direct = operator.kubeconfig
    operator.stop()
    try:
        rotation.use(rotation.issue("operator-a"))
        operator.kubeconfig = rotation.kubeconfig
        operator.start()
        yield rotation
    finally:
        operator.stop()
        operator.kubeconfig = direct
        operator.start()
        cluster.kubectl("delete", "clusterrolebinding", binding, check=False)


def test_the_operator_keeps_reconciling_across_a_token_rotation(
    cluster: Cluster,
    operator: OperatorProcess,
    operator_on_rotating_token: Rotation,
    namespace: str,
) -> None:
    rotation = operator_on_rotating_token
    cluster.apply(
        mcpserver("rotated", rollout={"scaleDownDelaySeconds": 0, "verifySeconds": 0}), namespace
    )
    first = wait_ready(cluster, "rotated", namespace)["activeRevision"]

    token = json.loads(Path(rotation.kubeconfig).read_text())["users"][0]["user"]["token"]
    rotation.use(rotation.issue("operator-b"))
    rotation.revoke("operator-a", token)

    patch_spec(cluster, "rotated", namespace, {"image": "example.invalid/mcp:2"})
    wait_until(
        lambda: wait_ready(cluster, "rotated", namespace)["activeRevision"] != first,
        timeout=90,
        what="the new revision serving after the rotation",
    )
    renewed = sum(
        v
        for (name, labels), v in operator.metrics().items()
        if name == "mcpops_api_logins_total" and dict(labels).get("outcome") == "renewed"
    )
    assert renewed >= 1
