"""MCPServer: desired children, the reconcile decision, and its cluster glue."""
