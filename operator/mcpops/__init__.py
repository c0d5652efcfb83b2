"""mcpops: a Kubernetes operator for MCP servers, optimization jobs and cleanup policies."""

__version__ = "0.1.0"
