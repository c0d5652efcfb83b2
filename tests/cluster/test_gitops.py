"""An Argo CD-style GitOps flow against the running operator.

Argo CD syncs with server-side apply under its own field manager. What it needs
from an operator: a sync of unchanged manifests changes nothing, the operator
never takes ownership of (or rewrites) anything in `spec`, and a diff after the
operator reconciled shows no drift. The manifests are the repository's
examples/, applied as a Git repository of them would be.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from clusterkit import REPO, Cluster, OperatorProcess
from test_mcpserver import wait_ready
from test_optimizationjob import wait_phase, write_results

from mcpops_common.results import SolveResult

pytestmark = pytest.mark.cluster

MANAGER = "argocd"
TRACKING = "argocd.argoproj.io/tracking-id"
EXAMPLES = ("mcpserver-http.yaml", "optimizationjob.yaml")


def git_manifests(namespace: str) -> list[dict[str, Any]]:
    """The examples as an Argo CD application of them would send (with its tracking id)."""
    docs = []
    for name in EXAMPLES:
        for doc in yaml.safe_load_all((REPO / "examples" / name).read_text()):
            doc["metadata"]["namespace"] = namespace
            tracking = f"demo:{doc['apiVersion'].split('/')[0]}/{doc['kind']}:{namespace}/"
            doc["metadata"].setdefault("annotations", {})[TRACKING] = (
                tracking + doc["metadata"]["name"]
            )
            docs.append(doc)
    return docs


def sync(cluster: Cluster, docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`kubectl apply --server-side --field-manager=argocd`: the objects as the server returned."""
    out = cluster.kubectl(
        "apply",
        "--server-side",
        f"--field-manager={MANAGER}",
        "--show-managed-fields",
        "-o",
        "json",
        "-f",
        "-",
        input_=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
    ).stdout
    result = json.loads(out)
    items = result["items"] if result.get("kind") == "List" else [result]
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in items}


def diff(cluster: Cluster, docs: list[dict[str, Any]]) -> tuple[int, str]:
    res = cluster.kubectl(
        "diff",
        "--server-side",
        f"--field-manager={MANAGER}",
        "-f",
        "-",
        input_=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
        check=False,
    )
    assert res.returncode in {0, 1}, res.stderr  # >1: kubectl diff itself failed
    return res.returncode, res.stdout


def spec_owners(obj: dict[str, Any]) -> dict[str, list[str]]:
    """Field managers owning anything under spec, with the fields they own there."""
    owners: dict[str, list[str]] = {}
    for entry in obj["metadata"].get("managedFields", []):
        spec = (entry.get("fieldsV1") or {}).get("f:spec")
        if spec:
            owners.setdefault(entry["manager"], []).extend(sorted(spec))
    return owners


def managers(obj: dict[str, Any]) -> dict[str, set[str]]:
    """manager -> the top-level fields it owns ("f:metadata", "f:status", ...)."""
    out: dict[str, set[str]] = {}
    for entry in obj["metadata"].get("managedFields", []):
        out.setdefault(entry["manager"], set()).update(entry.get("fieldsV1") or {})
    return out


def live(cluster: Cluster, key: str, namespace: str) -> dict[str, Any]:
    kind, _, name = key.partition("/")
    out = cluster.kubectl(
        "get", kind.lower(), name, "-n", namespace, "-o", "json", "--show-managed-fields"
    ).stdout
    obj: dict[str, Any] = json.loads(out)
    return obj


def versions(cluster: Cluster, namespace: str) -> dict[str, str]:
    """resourceVersion of every object the sync or the operator wrote in the namespace."""
    kinds = "deployments,services,jobs,configmaps,serviceaccounts,roles,rolebindings"
    objs = cluster.list(f"{kinds},mcpservers,optimizationjobs", namespace)
    return {f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in objs}


def reconciled(cluster: Cluster, namespace: str) -> None:
    wait_ready(cluster, "everything", namespace, timeout=90)
    wait_phase(cluster, "production-plan", namespace, "Succeeded", timeout=90)


def test_sync_twice_changes_nothing_and_operator_never_owns_spec(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    docs = git_manifests(namespace)
    first = sync(cluster, docs)
    assert set(first) == {"MCPServer/everything", "OptimizationJob/production-plan"}
    # Where the real solver pod would write its result (pods are simulated here).
    write_results(
        cluster,
        namespace,
        "production-plan",
        SolveResult(
            status="OPTIMAL",
            solver="GLOP",
            solver_reason="an LP: GLOP",
            sense="maximize",
            objective=1400.0,
            bound=1400.0,
            seconds=0.01,
            message="optimal",
            values={"chairs": 30.0, "tables": 10.0},
        ),
    )
    reconciled(cluster, namespace)
    operator.wait_quiet()

    settled = {key: live(cluster, key, namespace) for key in first}
    for key, obj in settled.items():
        meta, status = obj["metadata"], obj["status"]
        # The operator wrote status (observedGeneration, conditions) and nothing in spec.
        assert meta["generation"] == 1, key
        assert status["observedGeneration"] == 1, key
        assert obj["spec"] == first[key]["spec"], key
        assert spec_owners(obj) == {MANAGER: spec_owners(first[key])[MANAGER]}, key
        owned = managers(obj)
        assert owned[MANAGER] == {"f:metadata", "f:spec"}, key
        assert "mcpops" in owned, f"{key}: the operator's status writes are not its own"
        assert owned["mcpops"] == {"f:status"}, key
        # What Argo CD tracks the object by is left alone.
        assert meta["annotations"][TRACKING].endswith(meta["name"]), key

    # The second sync of the same Git state is a no-op: no new resourceVersion, no
    # generation, nothing for the operator to react to.
    second = sync(cluster, docs)
    for key, obj in second.items():
        assert obj["metadata"]["resourceVersion"] == settled[key]["metadata"]["resourceVersion"]
        assert obj["metadata"]["generation"] == 1
    # Nothing in this namespace changes afterwards (the operator's write counter is global:
    # other tests' namespaces may still be going away, so compare this namespace's objects).
    before = versions(cluster, namespace)
    operator.wait_quiet(quiet=3.0, timeout=90)
    assert versions(cluster, namespace) == before

    # Argo CD's diff (server-side dry run under its manager) shows no drift.
    code, out = diff(cluster, docs)
    assert (code, out) == (0, ""), out


def test_git_change_is_reconciled_and_the_diff_follows_git(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    docs = [d for d in git_manifests(namespace) if d["kind"] == "MCPServer"]
    sync(cluster, docs)
    wait_ready(cluster, "everything", namespace, timeout=90)

    # A commit changes the image: a new generation, a new revision, rolled out blue-green.
    changed = copy.deepcopy(docs)
    changed[0]["spec"]["image"] = changed[0]["spec"]["image"].rsplit(":", 1)[0] + ":2025.10.1"
    code, out = diff(cluster, changed)
    assert code == 1 and "2025.10.1" in out  # the diff does see real drift from Git
    before = wait_ready(cluster, "everything", namespace)
    sync(cluster, changed)
    after = wait_ready(cluster, "everything", namespace, timeout=120)
    assert after["activeRevision"] != before["activeRevision"]
    operator.wait_quiet()

    obj = live(cluster, "MCPServer/everything", namespace)
    assert obj["metadata"]["generation"] == 2 == obj["status"]["observedGeneration"]
    assert obj["spec"]["image"].endswith(":2025.10.1")
    assert set(spec_owners(obj)) == {MANAGER}
    assert diff(cluster, changed) == (0, "")
    # Going back in Git is a change again (and would roll back to the kept revision).
    assert diff(cluster, docs)[0] == 1
