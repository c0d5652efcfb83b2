"""Every name mcpops puts on objects or reads from them: the API group, labels, annotations.

Spelled once, here, for the operator and the solver pods alike. Names under `mcpops.dev/`
are part of the API: people select by the labels and set the request annotations, so a
change here is a breaking change.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "mcpops.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

# ---------------------------------------------------------------- recommended labels
# (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/),
# on every object mcpops creates.
NAME_LABEL: Final = "app.kubernetes.io/name"
INSTANCE_LABEL: Final = "app.kubernetes.io/instance"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
PART_OF_LABEL: Final = "app.kubernetes.io/part-of"
MANAGED_BY: Final = "mcpops"  # the value of MANAGED_BY_LABEL: every child watch selects it
PART_OF: Final = "mcpops"

# ---------------------------------------------------------------- labels mcpops sets
SERVER_LABEL: Final = "mcpops.dev/server"  # an MCPServer's children: its name
REVISION_LABEL: Final = "mcpops.dev/revision"  # Deployments, their pods, test Jobs
SUITE_LABEL: Final = "mcpops.dev/suite"  # test Jobs: the suite's name
ATTEMPT_LABEL: Final = "mcpops.dev/attempt"  # test Jobs: the rollout attempt
SCHEDULED_LABEL: Final = "mcpops.dev/scheduled"  # test Jobs run on tests[].schedule
OPTJOB_LABEL: Final = "mcpops.dev/optimizationjob"  # an OptimizationJob's children
RESULT_ROLE_LABEL: Final = "mcpops.dev/result-role"  # result ConfigMaps: summary | part
SCENARIO_INDEX_LABEL: Final = "mcpops.dev/scenario-index"  # result ConfigMaps of a sweep
ROLE: Final = "mcpops.dev/role"  # Services (annotation: active | preview), input ConfigMaps

# ---------------------------------------------------------------- annotations mcpops sets
HASH_ANNOTATION: Final = "mcpops.dev/applied-hash"  # content hash of what was applied
NOTE_ANNOTATION: Final = "mcpops.dev/note"  # a sentence for people reading the object
CANCEL_ANNOTATION: Final = "mcpops.dev/cancel"  # OptimizationJob: "true" stops the solve
# On a revision's Deployment: the spec fields that made its pod template (JSON), so that a
# rollback can restore them without inverting the template.
REVISION_SPEC_ANNOTATION: Final = "mcpops.dev/revision-spec"
# On a pod template: a hash of the content of the ConfigMaps and Secrets the pods read, so
# that a change to them is a new revision (a hash of hashes: no value can be read back).
CONFIG_HASH_ANNOTATION: Final = "mcpops.dev/config-hash"
# On a Deployment whose replicas the HorizontalPodAutoscaler owns (handed over once).
SCALED_BY_ANNOTATION: Final = "mcpops.dev/scaled-by"

# ---------------------------------------------------------------- requests from people
# Annotations on the parent; each is acted on once per distinct value.
PAUSE_ANNOTATION: Final = "mcpops.dev/paused"  # "true" holds an MCPServer's rollout
PROMOTE_ANNOTATION: Final = "mcpops.dev/promote"  # = the candidate revision to switch to
ABORT_ANNOTATION: Final = "mcpops.dev/abort"  # any new value stops the running rollout
RETRY_ANNOTATION: Final = "mcpops.dev/retry"  # any new value retries the failed revision
ACK_ANNOTATION: Final = "mcpops.dev/acknowledge"  # = the token of a CleanupPolicy's block
RUN_NOW_ANNOTATION: Final = "mcpops.dev/run-now"  # any new value runs a CleanupPolicy now
PROTECTED: Final = "mcpops.dev/protected"  # label or annotation "true": never cleaned up

# ---------------------------------------------------------------- other names
FINALIZER: Final = "mcpops.dev/finalizer"  # Kopf's setting; mcpops adds no finalizers
REPORTING_COMPONENT: Final = "mcpops.dev/operator"  # of the Events mcpops posts
