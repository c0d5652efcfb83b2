"""MCPServer: one MCP server, a Deployment per revision, blue-green rollouts behind tests.

Pure decisions:
- `desired`: every child as a manifest (pod template and revision hash, Deployments,
  Services, the HPA, test Jobs);
- `observed`: the children as the caches show them, and what the rollout asks of them;
- `suites`: test suites' verdicts, read back from their Jobs;
- `state`: the typed data a reconcile works on (inputs, the rollout's state, the plan);
- `rollout`: the rollout as a state machine, one small step per phase;
- `children`: which children that state asks for (run, scale down, delete);
- `status`: the phase, conditions and timeline status shows;
- `plan`: sequences them: status in, a plan out.

Cluster glue: `reconciler` (reads the caches, runs the plan, writes the difference).
"""
