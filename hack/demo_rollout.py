"""The blue-green part of `make demo`: a good image promoted, a broken one rolled back.

Pods are simulated on the local control plane, so a test pod's outcome is what kwok is
told through the suite's podAnnotations: the same termination message the real
`mcpops test-runner` writes. The "broken" update therefore tells kwok that its test
run fails the way the runner reports a wrong tool result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from mcpops.api.testresult import CheckResult, SuiteResult, termination_message

NAME = "calculator"


def _suite(passed: bool) -> dict[str, Any]:
    checks = [CheckResult(name="connect", status="passed", duration_ms=12.0)]
    if not passed:
        checks.append(
            CheckResult(name="call:add", status="failed", message="add(1, 2): expected 3, got 4")
        )
    message = termination_message(
        SuiteResult(
            suite="smoke",
            outcome="Passed" if passed else "Failed",
            passed=1,
            failed=0 if passed else 1,
            duration_seconds=1.2,
            checks=checks,
        )
    )
    sim = {"sim.mcpops.dev/message": message, "sim.mcpops.dev/delay": "2s"}
    if not passed:
        sim |= {"sim.mcpops.dev/outcome": "fail", "sim.mcpops.dev/exit-code": "1"}
    return {
        "name": "smoke",
        "builtin": {
            "requiredTools": ["add"],
            "toolCalls": [{"tool": "add", "arguments": {"a": 1, "b": 2}, "expect": {"equals": 3}}],
        },
        "timeoutSeconds": 60,
        "podAnnotations": sim,
    }


def _server(image: str, passed: bool) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": NAME},
        "spec": {
            "image": image,
            "replicas": 2,
            "rollout": {"scaleDownDelaySeconds": 10, "verifySeconds": 10},
            "tests": [_suite(passed)],
        },
    }


def run(kubectl: Callable[..., str], namespace: str, say: Callable[[str], None]) -> int:
    def status() -> dict[str, Any]:
        obj = json.loads(kubectl("get", "mosrv", NAME, "-n", namespace, "-o", "json"))
        return dict(obj.get("status") or {})

    def follow(until: Callable[[dict[str, Any]], bool], timeout: float = 120) -> dict[str, Any]:
        deadline, last = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            st = status()
            line = (
                f"  phase={st.get('phase')} active={st.get('activeRevision')} "
                f"candidate={st.get('candidateRevision', '-')} "
                f"failed={st.get('failedRevision', '-')}"
            )
            if line != last:
                print(line, flush=True)
                last = line
            if until(st):
                return st
            time.sleep(0.5)
        raise SystemExit(f"{NAME} did not get there in {timeout:.0f}s; see its Events")

    def apply(image: str, passed: bool) -> None:
        kubectl("apply", "-n", namespace, "-f", "-", input_=json.dumps(_server(image, passed)))

    say(f"blue-green: MCPServer {NAME} with a test suite (image calculator:1)")
    apply("example.invalid/calculator:1", True)
    first = follow(lambda s: s.get("phase") == "Healthy")["activeRevision"]

    say("update to a good image (calculator:2): tested on the preview Service, then promoted")
    apply("example.invalid/calculator:2", True)
    good = follow(lambda s: s.get("phase") == "Healthy" and s.get("activeRevision") != first)
    print(f"  promoted: traffic moved {first} -> {good['activeRevision']} after the suite passed")

    say("update to a broken image (calculator:3): its tests fail, traffic never moves")
    apply("example.invalid/calculator:3", False)
    bad = follow(lambda s: s.get("phase") == "Degraded" and bool(s.get("failedRevision")))
    print(
        f"  rolled back: {bad['failedRevision']} failed, {bad['activeRevision']} keeps serving\n"
        f"  why: {bad.get('rollout', {}).get('failureReason', '')}"
    )
    say(f"kubectl describe mosrv {NAME} (conditions and Events)")
    described = kubectl("describe", "mosrv", NAME, "-n", namespace)
    keep = False
    for line in described.splitlines():
        if line.startswith(("Status:", "Events:")):
            keep = True
        elif line and not line.startswith(" "):
            keep = False
        if keep and any(k in line for k in ("Reason", "Message", "Events", "Normal", "Warning")):
            print(line)
    return 0
