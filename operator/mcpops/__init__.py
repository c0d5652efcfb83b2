"""mcpops: a Kubernetes operator for MCP servers, optimization jobs and cleanup policies."""

__version__ = "0.1.0"

# The images this version is published as. The proxy image runs in every MCP server pod
# (sidecar, or installed into a stdio server's container); the operator image runs the test
# suites (and the health sidecar of sse servers); a deployment names its own with
# MCPOPS_IMAGE / MCPOPS_SOLVER_IMAGE / MCPOPS_PROXY_IMAGE (settings.py).
OPERATOR_IMAGE = f"ghcr.io/mcpops/mcpops:{__version__}"
SOLVER_IMAGE = f"ghcr.io/mcpops/mcpops-solver:{__version__}"
PROXY_IMAGE = f"ghcr.io/mcpops/mcpops-proxy:{__version__}"
