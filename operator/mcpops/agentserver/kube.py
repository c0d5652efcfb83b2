"""The agent server's only way to act: the Kubernetes API, in its one namespace.

Everything here is a thin call; what to create and what to show is decided in `jobs`
and `explain`. The verbs used are exactly those the chart's Role grants:
optimizationjobs get, list, create, patch; configmaps get, create.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcpops.api import API_VERSION
from mcpops.machinery.client import Client
from mcpops.objects.bodies import Body
from mcpops_common.results import merge_solution_parts

PLURAL = "optimizationjobs"


class Jobs:
    """OptimizationJobs (and their ConfigMaps) in one namespace."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    async def get(self, name: str) -> Body | None:
        return await self.client.get(API_VERSION, PLURAL, self.namespace, name)

    async def list_jobs(self, label_selector: str) -> list[Body]:
        body = await self.client.list(
            API_VERSION, PLURAL, self.namespace, label_selector=label_selector
        )
        items: list[Body] = body.get("items") or []
        return items

    async def create(self, manifest: dict[str, Any]) -> Body:
        return await self.client.create(manifest)

    async def patch(self, name: str, patch: Body) -> Body:
        return await self.client.patch(API_VERSION, PLURAL, self.namespace, name, patch)

    async def configmap(self, name: str) -> Body | None:
        return await self.client.get("v1", "configmaps", self.namespace, name)

    async def solution(self, names: Sequence[str]) -> dict[str, Any] | None:
        """The merged solution.json of a result (None when none of its ConfigMaps has one)."""
        configmaps = [cm for cm in [await self.configmap(n) for n in names] if cm is not None]
        if not any("solution.json" in (cm.get("data") or {}) for cm in configmaps):
            return None
        return merge_solution_parts(configmaps)
