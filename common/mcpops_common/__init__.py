"""mcpops_common: what the operator (`mcpops`) and the solver pods (`mcpops_solver`) share.

Neither of those packages imports the other; both import this one, which imports neither
(import-linter enforces it, `make lint`):

- `names`: every `mcpops.dev/*` label and annotation name, and the app.kubernetes.io ones;
- `logs`: one JSON log line format for every mcpops process;
- `optmodel`, `problem`, `scenarios`: the optimization model form (embedded in the
  OptimizationJob CRD), the solver-neutral problem it becomes, and scenario overrides;
- `results`: the result ConfigMaps and termination message a solver pod leaves, as the
  operator reads them.
"""
