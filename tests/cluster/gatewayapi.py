"""The Gateway API CRDs on the local control plane: the standard channel of the release
pinned in hack/gatewayapi/go.mod, read from the Go module cache (`go mod download`); the
YAML is never copied into the repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from clusterkit import REPO, Cluster, wait_until

MODULE = "sigs.k8s.io/gateway-api"


def standard_crds() -> list[Path]:
    """The standard channel's files (CRDs, and the release's admission policy)."""
    res = subprocess.run(
        ["go", "mod", "download", "-json", MODULE],
        cwd=REPO / "hack" / "gatewayapi",
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    info = json.loads(res.stdout or "{}")
    if res.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {MODULE}: {info.get('Error') or res.stderr}")
    files = sorted(Path(info["Dir"], "config", "crd", "standard").glob("*.yaml"))
    assert files, f"no CRDs under {info['Dir']}/config/crd/standard"
    return files


def crd_names() -> list[str]:
    return [
        f"{p.name.split('_', 1)[1].removesuffix('.yaml')}.gateway.networking.k8s.io"
        for p in standard_crds()
        if not p.name.split("_", 1)[1].startswith("vap_")
    ]


def install(cluster: Cluster) -> None:
    for path in standard_crds():
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
    for name in crd_names():
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")


def uninstall(cluster: Cluster) -> None:
    """Every Gateway API CRD gone (with its objects), as on a cluster that never had them."""
    names = crd_names()
    cluster.kubectl("delete", "crd", "--ignore-not-found", "--wait=true", *names, timeout=180)
    wait_until(
        lambda: not any(n.startswith("httproutes.") for n in _served_crds(cluster)),
        timeout=60,
        what="the HTTPRoute CRD gone",
    )


def _served_crds(cluster: Cluster) -> list[str]:
    out = cluster.kubectl("get", "crd", "-o", "name").stdout
    return [
        line.removeprefix("customresourcedefinition.apiextensions.k8s.io/") for line in out.split()
    ]
