"""What runs inside the pods mcpops creates (never imports the machinery or the reconcilers).

- `health`: the MCP health sidecar of sse servers (`mcpops health`): /readyz only while an
  MCP initialize succeeds (every other server's pod runs the Go in-pod proxy, proxy/);
- `probe`: one MCP initialize, as an exec probe (`mcpops probe`);
- `testrunner`: the built-in test suites (`mcpops test-runner`), run in test Job pods.

Compiled in-pod components live outside this Python package, in a top-level folder of
their own (see the README's layout table); these modules are the Python ones.
"""
