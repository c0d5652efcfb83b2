"""mcpops: a Kubernetes operator for MCP servers, optimization jobs and cleanup policies."""

__version__ = "0.1.0"

# The images this version is published as. The operator image also runs in the pods mcpops
# creates (health sidecar, bridge installer, test runner); a deployment names its own with
# MCPOPS_IMAGE / MCPOPS_SOLVER_IMAGE (settings.py).
OPERATOR_IMAGE = f"ghcr.io/mcpops/mcpops:{__version__}"
SOLVER_IMAGE = f"ghcr.io/mcpops/mcpops-solver:{__version__}"
