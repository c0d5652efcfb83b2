"""`kubectl mcpops`: a kubectl plugin over the annotations and fields a person could set.

status, promote, abort, retry, rollback --to-revision, tests, result. Each command
reads or writes exactly what `kubectl annotate` / `kubectl patch` would: the plugin
is a convenience, never a second way to drive the operator.
"""
