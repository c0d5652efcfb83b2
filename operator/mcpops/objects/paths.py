"""Where an object lives in the Kubernetes API: URL paths and the plurals of the kinds
mcpops writes. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def api_prefix(api_version: str) -> str:
    """`v1` -> /api/v1, `apps/v1` -> /apis/apps/v1."""
    if "/" not in api_version:
        return f"/api/{api_version}"
    return f"/apis/{api_version}"


def resource_path(
    api_version: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    path = api_prefix(api_version)
    if namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


# The kinds the operator writes, and their plural names.
PLURALS: dict[str, str] = {
    "Deployment": "deployments",
    "Service": "services",
    "Job": "jobs",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "HTTPRoute": "httproutes",
    "Ingress": "ingresses",
    "NetworkPolicy": "networkpolicies",
    "Pod": "pods",
    "Event": "events",
    "MCPServer": "mcpservers",
    "OptimizationJob": "optimizationjobs",
    "CleanupPolicy": "cleanuppolicies",
    "Lease": "leases",
}


def manifest_path(manifest: Mapping[str, Any], *, named: bool = True) -> tuple[str, str]:
    """(URL path, plural) of a manifest: the object itself, or its collection."""
    meta = manifest["metadata"]
    plural = PLURALS[manifest["kind"]]
    name = meta["name"] if named else None
    return resource_path(manifest["apiVersion"], plural, meta.get("namespace"), name), plural
