"""CleanupPolicy: scheduled, safe-by-default deletion of what is no longer needed.

Pure decisions: `schedule` (cron in a time zone), `select` (which listed objects a rule
selects), `plan` (whether a run is due, the circuit breaker, the cap) and `status` (status
and Events). Cluster glue: `reconciler` (lists page by page, deletes with UID
preconditions).
"""
