"""The mcpops API (group mcpops.dev, version v1alpha1) as pydantic models.

These models are the single source of truth: `mcpops crds` generates the
CustomResourceDefinitions from them, and the operator parses what it watches
with them.
"""

from mcpops_common.names import API_VERSION, GROUP, VERSION

__all__ = ["API_VERSION", "GROUP", "VERSION"]
