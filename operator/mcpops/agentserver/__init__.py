"""`mcpops mcp-server`: an MCP server that gives agents OptimizationJobs as tools.

Not part of the reconciling operator: a separate process (its own Deployment in the
chart, its own ServiceAccount) that acts only through the Kubernetes API, in one
namespace, so whatever an agent does is an OptimizationJob people can see, audit and
clean up like any other. `jobs` and `explain` are pure (what to create, what to show);
`kube` talks to the API server; `server` wires them into MCP tools.
"""
