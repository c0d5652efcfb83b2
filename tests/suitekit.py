"""What a simulated test pod reports: the runner's termination message for a suite."""

from __future__ import annotations

from mcpops.api.testsuite import CheckResult, SuiteResult
from mcpops.testrunner import termination_message


def result_message(passed: bool, suite: str = "smoke") -> str:
    checks = [CheckResult(name="connect", status="passed", duration_ms=3.0)]
    if not passed:
        checks.append(CheckResult(name="call:add", status="failed", message="expected 3, got 4"))
    return termination_message(
        SuiteResult(
            suite=suite,
            outcome="Passed" if passed else "Failed",
            passed=1,
            failed=0 if passed else 1,
            duration_seconds=0.4,
            checks=checks,
        )
    )
