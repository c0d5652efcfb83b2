"""The kinds mcpops reconciles, one package each: `mcpserver`, `optimizationjob`,
`cleanuppolicy`.

Each has pure decision modules (what it wants, from what was observed: `desired`,
`plan` and their helpers; no API calls, no environment) and a `reconciler` that reads
the watch caches, runs the plan and writes the difference through the machinery.
"""
