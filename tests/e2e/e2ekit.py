"""Helpers for end-to-end tests on the real node: namespaces placed there, pods that run,
images built here. Waiting goes through clusterkit.wait_until (deadlines, never sleeps)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from clusterkit import REPO, Cluster, make_namespace, wait_until

sys.path.insert(0, str(REPO / "hack"))
import realnode

NODE_NAME = realnode.NODE_NAME
NODE_IP = realnode.NODE_IP
# What PodNodeSelector and PodTolerationRestriction read: every pod created in a namespace
# with these annotations runs on the real node, and no other pod may (the node is tainted).
REAL_NODE_ANNOTATIONS = realnode.placement_annotations()


def node_unavailable(cluster: Cluster) -> str | None:
    """Why the tests cannot use a real node here (one line), or None when it is Ready."""
    node = cluster.get("node", NODE_NAME)
    if node is None:
        return realnode.capable() or "the cluster was started without its real node"
    conds = node.get("status", {}).get("conditions", [])
    if not any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
        raise AssertionError(f"real node {NODE_NAME} is not Ready: {conds}")
    return None


def load_images() -> None:
    """Import into the node's containerd the images `make images` built and it lacks."""
    subprocess.run(
        [sys.executable, str(REPO / "hack" / "images.py"), "load",
         "--address", str(realnode.containerd_socket())],
        check=True, timeout=600,
    )  # fmt: skip


@functools.cache
def image(name: str) -> str:
    """The reference of a locally built image (hack/images.py tags), e.g. image("mcp-python")."""
    out = subprocess.run(
        [sys.executable, str(REPO / "hack" / "images.py"), "tags", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    tags: dict[str, str] = json.loads(out)
    return tags[name]


def real_namespace(cluster: Cluster, prefix: str, *, restricted: bool = True) -> str:
    """A fresh namespace whose pods all run on the real node (annotations above)."""
    return make_namespace(cluster, prefix, restricted, annotations=REAL_NODE_ANNOTATIONS)


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod_manifest(
    name: str, image_ref: str, command: list[str], *, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A restricted pod that runs `command` once (its spec doubles as a Job's template)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": image_ref,
                    "imagePullPolicy": "Never",
                    "command": command,
                    "securityContext": RESTRICTED_CONTAINER,
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                }
            ],
        },
    }


def run_to_completion(
    cluster: Cluster, namespace: str, manifest: dict[str, Any], timeout: float = 120
) -> tuple[str, str]:
    """Create the pod, wait until it ends; (phase, logs)."""
    cluster.apply(manifest, namespace)
    name = manifest["metadata"]["name"]
    pod = wait_until(
        lambda: (
            (p := cluster.get("pod", name, namespace))
            and p.get("status", {}).get("phase") in ("Succeeded", "Failed")
            and p
        ),
        timeout=timeout,
        what=f"pod {namespace}/{name} to finish",
    )
    logs = cluster.kubectl("logs", "-n", namespace, name, check=False).stdout
    return pod["status"]["phase"], logs


def wait_running(
    cluster: Cluster, namespace: str, name: str, timeout: float = 120
) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (p := cluster.get("pod", name, namespace))
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions", [])
            )
            and p
        ),
        timeout=timeout,
        what=f"pod {namespace}/{name} Ready",
    )


def iptables_packets(chain: str, target: str) -> int:
    """Packets the rules of `chain` (filter table) with `target` have matched so far."""
    out = subprocess.run(
        ["iptables", "-w", "-t", "filter", "-L", chain, "-n", "-v", "-x"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(
        int(line.split()[0])
        for line in out.splitlines()[2:]
        if len(line.split()) > 2 and line.split()[2] == target
    )


def path_of(*parts: str) -> Path:
    return REPO.joinpath(*parts)
