"""Test suites as Jobs against the preview Service, and reading their results back.

Results come from the pod's termination message (written by the runner, or by
a user container), never from logs. A failing test is told apart from a
disrupted pod by the Job's podFailurePolicy: a non-zero exit fails the Job at
once; an evicted or preempted pod (DisruptionTarget) is retried and never
counts as a pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.api.testsuite import SuiteResult, TestSuite
from mcpops.inpod.testrunner import parse_termination_message
from mcpops.kinds.mcpserver.desired import REVISION_LABEL, SERVER_LABEL, operator_image
from mcpops.objects.children import (
    digest,
    labels,
    owner_reference,
    restricted_container_context,
    restricted_pod_context,
    stamp,
)
from mcpops.objects.conditions import true_condition

SUITE_LABEL = "mcpops.dev/suite"
ATTEMPT_LABEL = "mcpops.dev/attempt"
COMPONENT = "mcpserver-test"
RUNNER_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "96Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}

Verdict = Literal["Running", "Passed", "Failed"]


def job_name(server: str, revision: str, suite: str, attempt: int) -> str:
    """Deterministic, at most 63 characters (Job names become pod label values)."""
    base = f"{server}-{revision}-{suite}-{attempt}"
    if len(base) <= 63:
        return base
    return f"{base[:52]}-{digest(base, 10)}"


def test_job(
    parent: dict[str, Any],
    spec: MCPServerSpec,
    suite: TestSuite,
    *,
    revision: str,
    attempt: int,
    preview_url: str,
    baseline: str | None,
) -> dict[str, Any]:
    name = parent["metadata"]["name"]
    env: list[dict[str, Any]] = [{"name": "MCP_SERVER_URL", "value": preview_url}]
    if suite.builtin is not None:
        container: dict[str, Any] = {
            "name": "test",
            "image": operator_image(),
            "args": [
                "test-runner",
                "--transport",
                "sse" if spec.transport == "sse" else "streamable-http",
            ],
        }
        env.append({"name": "MCPOPS_TEST_SUITE", "value": json.dumps(suite.to_wire())})
        if baseline:
            env.append({"name": "MCPOPS_TEST_BASELINE", "value": baseline})
    else:
        assert suite.container is not None
        container = {"name": "test", "image": suite.container.image}
        if suite.container.command:
            container["command"] = list(suite.container.command)
        if suite.container.args:
            container["args"] = list(suite.container.args)
        env += [e.to_wire() for e in suite.container.env or []]
    container.update(
        {
            "env": env,
            "resources": RUNNER_RESOURCES,
            "securityContext": restricted_container_context(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            "terminationMessagePolicy": "File",
        }
    )
    pod_labels = labels(
        COMPONENT,
        name,
        **{SERVER_LABEL: name, REVISION_LABEL: revision, SUITE_LABEL: suite.name},
    )
    pod_labels[ATTEMPT_LABEL] = str(attempt)
    return stamp(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": job_name(name, revision, suite.name, attempt),
                "namespace": parent["metadata"]["namespace"],
                "labels": dict(pod_labels),
                "ownerReferences": [owner_reference(parent)],
            },
            "spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": suite.timeout_seconds + 30,
                "podFailurePolicy": {
                    "rules": [
                        # Evicted, preempted, node gone: try again, never a pass.
                        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                        # The test said no: fail the Job now, no retries.
                        {
                            "action": "FailJob",
                            "onExitCodes": {
                                "containerName": "test",
                                "operator": "NotIn",
                                "values": [0],
                            },
                        },
                    ]
                },
                "template": {
                    "metadata": {
                        "labels": pod_labels,
                        "annotations": dict(suite.pod_annotations or {}),
                    },
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [container],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                        "securityContext": restricted_pod_context(65532),
                        "automountServiceAccountToken": False,
                        "enableServiceLinks": False,
                    },
                },
            },
        }
    )


@dataclass(frozen=True)
class SuiteVerdict:
    verdict: Verdict
    reason: str
    result: SuiteResult | None = None


def _termination(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == "test":
            term = (status.get("state") or {}).get("terminated")
            return dict(term) if term else None
    return None


def verdict(
    suite: TestSuite, job: dict[str, Any] | None, pods: list[dict[str, Any]]
) -> SuiteVerdict:
    """Passed only with a Complete Job and a passing result from a pod that exited 0."""
    if job is None:
        return SuiteVerdict("Running", "not started")
    failed = true_condition(job, "Failed")
    complete = true_condition(job, "Complete")
    finished = [p for p in pods if (p.get("status") or {}).get("phase") in {"Succeeded", "Failed"}]
    finished.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""))
    result: SuiteResult | None = None
    term: dict[str, Any] | None = None
    for pod in reversed(finished):
        term = _termination(pod)
        if term and term.get("message"):
            try:
                result = parse_termination_message(term["message"])
            except (ValueError, ValidationError):
                result = None
            break
    if failed is not None:
        reason = failed.get("reason") or "Failed"
        if reason == "DeadlineExceeded":
            return SuiteVerdict("Failed", f"timed out after {suite.timeout_seconds}s", result)
        detail = f"exit code {term.get('exitCode')}" if term else reason
        if result is not None:
            messages = [c.message for c in result.checks if c.status == "failed"][:3]
            detail = f"{result.failed} check(s) failed: " + "; ".join(messages)
        return SuiteVerdict("Failed", detail, result)
    if complete is not None:
        if suite.builtin is not None:
            # The built-in runner always reports; a Complete Job without a passing
            # report is not evidence of a pass.
            if result is None:
                return SuiteVerdict("Failed", "the runner left no result", None)
            if result.outcome != "Passed" or result.failed:
                return SuiteVerdict("Failed", f"outcome {result.outcome}", result)
        return SuiteVerdict("Passed", "passed", result)
    return SuiteVerdict("Running", "running", result)
