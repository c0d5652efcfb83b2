"""OptimizationJob: a solver pod (or an Indexed Job of them) with limits, results in status.

Pure decisions: `desired` (every child as a manifest), `observed` (the children as the
caches show them, and the solver pods' reports read from them), `verdict` (what one
solve's Job says), `sweep` (what a sweep's scenarios say), `status` (status and Events)
and `plan` (sequences them). Cluster glue: `reconciler`.
"""
