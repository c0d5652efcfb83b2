"""CleanupPolicy: scheduled, safe-by-default deletion of what is no longer needed."""
