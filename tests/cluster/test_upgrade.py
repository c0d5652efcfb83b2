"""An MCPServer whose status was written by an earlier version of mcpops (status.rollout an
untyped map) under the typed schema: the API server keeps the keys the schema names, drops
the rest, and the operator reconciles it on."""

from __future__ import annotations

import json

from clusterkit import Cluster, OperatorProcess, wait_until
from test_mcpserver import mcpserver, patch_spec, status, wait_ready


def test_a_status_written_by_the_untyped_version_loads_and_reconciles(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("old", rollout={"scaleDownDelaySeconds": 0}), namespace)
    first = wait_ready(cluster, "old", namespace)["activeRevision"]
    old_keys = {"retryToken": "from-before", "fromAnOlderVersion": {"anything": [1, 2]}}
    cluster.kubectl(
        "patch", "mcpserver", "old", "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"rollout": old_keys}}),
    )  # fmt: skip
    rollout = status(cluster, "old", namespace)["rollout"]
    assert rollout["retryToken"] == "from-before"
    assert "fromAnOlderVersion" not in rollout  # pruned: the schema says what is there

    patch_spec(cluster, "old", namespace, {"image": "example.invalid/mcp:2"})
    wait_until(
        lambda: wait_ready(cluster, "old", namespace)["activeRevision"] != first,
        timeout=60,
        what="the next revision serving",
    )
    assert status(cluster, "old", namespace)["rollout"]["retryToken"] == "from-before"
