"""Reading test suites' results back from their Jobs, and what status.tests says of them.

Results come from the test pod's termination message (api/testresult.py), never from
logs. Passed needs a Complete Job and, for the built-in runner, a passing report: a Job
the podFailurePolicy failed (a non-zero exit) is Failed at once, while a disrupted pod
(evicted, preempted) is retried by the Job and never counts as a pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from pydantic import ValidationError

from mcpops.api.testresult import SuiteResult, parse_termination_message
from mcpops.api.testsuite import TestSuite
from mcpops.objects.bodies import Body
from mcpops.objects.conditions import true_condition

Verdict = Literal["Running", "Passed", "Failed"]


@dataclass(frozen=True)
class SuiteVerdict:
    verdict: Verdict
    reason: str
    result: SuiteResult | None = None


def _termination(pod: Body) -> dict[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == "test":
            term = (status.get("state") or {}).get("terminated")
            return dict(term) if term else None
    return None


def verdict(suite: TestSuite, job: Body | None, pods: list[Body]) -> SuiteVerdict:
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


class SuiteEntry(TypedDict, total=False):
    """One entry of status.tests (api.mcpserver.SuiteStatus on the wire)."""

    suite: str
    revision: str
    result: str
    job: str
    passed: int
    failed: int
    skipped: int
    durationSeconds: float
    messages: list[str]


def entry(suite: str, revision: str, v: SuiteVerdict, job: str) -> SuiteEntry:
    """What status.tests shows of one suite's run."""
    out: SuiteEntry = {"suite": suite, "revision": revision, "result": v.verdict, "job": job}
    if v.result is not None:
        out["passed"] = v.result.passed
        out["failed"] = v.result.failed
        out["skipped"] = v.result.skipped
        out["durationSeconds"] = round(v.result.duration_seconds, 3)
        messages = [f"{c.name}: {c.message}"[:500] for c in v.result.checks if c.status == "failed"]
        if messages:
            out["messages"] = messages[:5]
    if v.verdict == "Failed" and "messages" not in out:
        out["messages"] = [v.reason[:500]]
    return out
