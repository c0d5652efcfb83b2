"""The mcpops API (group mcpops.dev, version v1alpha1) as pydantic models.

These models are the single source of truth: `mcpops crds` generates the
CustomResourceDefinitions from them, and the operator parses what it watches
with them.
"""

GROUP = "mcpops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
