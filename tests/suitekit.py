"""Test suites whose pods are simulated (kwok Stage rules), and what such a pod reports:
the runner's termination message for a suite."""

from __future__ import annotations

from typing import Any

from mcpops.api.testresult import CheckResult, SuiteResult, termination_message


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


def suite(
    name: str = "smoke", *, passed: bool = True, timeout: int = 30, **sim: str
) -> dict[str, Any]:
    """A built-in suite whose simulated pod passes (or fails) with the runner's result;
    `sim` adds pod annotations `sim.mcpops.dev/<key>` (delay="2s", outcome="hang", ...)."""
    annotations = {"sim.mcpops.dev/message": result_message(passed, name)}
    if not passed:
        annotations |= {"sim.mcpops.dev/outcome": "fail", "sim.mcpops.dev/exit-code": "1"}
    annotations |= {f"sim.mcpops.dev/{k}": v for k, v in sim.items()}
    return {
        "name": name,
        "builtin": {"requiredTools": ["add"]},
        "timeoutSeconds": timeout,
        "podAnnotations": annotations,
    }
