"""The blue-green part of `make demo`: a good update promoted, a broken one refused.

On the real node (the default where the machine can run one) the suites run for real: the
built-in `mcpops test-runner` in a Job against the preview Service. The good update is the
time server with a new setting; the broken one is the wrong server behind the same name
(it has no get_current_time), which its suite catches.

On simulated nodes only, a test pod's outcome is what kwok is told through the suite's
podAnnotations: the same termination message the real runner writes.
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


def _real_server(spec: dict[str, Any]) -> dict[str, Any]:
    suite = {
        "name": "smoke",
        "builtin": {
            "requiredTools": ["get_current_time"],
            "toolCalls": [
                {
                    "tool": "get_current_time",
                    "arguments": {"timezone": "UTC"},
                    "expect": {"contains": "UTC"},
                }
            ],
        },
        "timeoutSeconds": 120,
    }
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": REAL_NAME},
        "spec": {
            "transport": "stdio",
            "rollout": {"scaleDownDelaySeconds": 10, "verifySeconds": 10},
            "tests": [suite],
            **spec,
        },
    }


REAL_NAME = "clock"


def real_plan(python_image: str, node_image: str) -> list[tuple[str, dict[str, Any]]]:
    """(what the demo says, the MCPServer) for the first version, the good and the bad update."""
    time_server = {"image": python_image, "command": ["mcp-server-time"]}
    return [
        (f"MCPServer {REAL_NAME}: mcp-server-time with a real test suite", _real_server(
            {**time_server, "args": ["--local-timezone", "UTC"]})),
        # A setting that leaves the tools as they were: the runner also fails a revision
        # whose tool schemas changed (e.g. --local-timezone rewrites their descriptions).
        ("update: a new environment variable; the runner tests the preview, then it switches",
         _real_server({**time_server, "args": ["--local-timezone", "UTC"],
                       "env": [{"name": "DEMO_REVISION", "value": "2"}]})),
        ("update to the wrong server (server-everything, no get_current_time): its suite fails",
         _real_server({"image": node_image, "command": ["mcp-server-everything", "stdio"]})),
    ]  # fmt: skip


def run(
    kubectl: Callable[..., str],
    namespace: str,
    say: Callable[[str], None],
    plan: list[tuple[str, dict[str, Any]]] | None = None,
) -> int:
    """The rollouts of `plan` (real_plan), else the simulated calculator's."""
    name = plan[0][1]["metadata"]["name"] if plan else NAME
    steps = plan or [
        ("blue-green: MCPServer calculator with a test suite (image calculator:1)",
         _server("example.invalid/calculator:1", True)),
        ("update to a good image (calculator:2): tested on the preview Service, then promoted",
         _server("example.invalid/calculator:2", True)),
        ("update to a broken image (calculator:3): its tests fail, traffic never moves",
         _server("example.invalid/calculator:3", False)),
    ]  # fmt: skip
    timeout = 300 if plan else 120

    def status() -> dict[str, Any]:
        obj = json.loads(kubectl("get", "mosrv", name, "-n", namespace, "-o", "json"))
        return dict(obj.get("status") or {})

    def follow(until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
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
        raise SystemExit(f"{name} did not get there in {timeout:.0f}s; see its Events")

    def apply(manifest: dict[str, Any]) -> None:
        kubectl("apply", "-n", namespace, "-f", "-", input_=json.dumps(manifest))

    say(steps[0][0])
    apply(steps[0][1])
    first = follow(lambda s: s.get("phase") == "Healthy")["activeRevision"]

    say(steps[1][0])
    apply(steps[1][1])
    good = follow(lambda s: s.get("phase") == "Healthy" and s.get("activeRevision") != first)
    print(f"  promoted: traffic moved {first} -> {good['activeRevision']} after the suite passed")

    say(steps[2][0])
    apply(steps[2][1])
    bad = follow(lambda s: s.get("phase") == "Degraded" and bool(s.get("failedRevision")))
    print(
        f"  rolled back: {bad['failedRevision']} failed, {bad['activeRevision']} keeps serving\n"
        f"  why: {bad.get('rollout', {}).get('failureReason', '')}"
    )
    say(f"kubectl describe mosrv {name} (conditions and Events)")
    described = kubectl("describe", "mosrv", name, "-n", namespace)
    keep = False
    for line in described.splitlines():
        if line.startswith(("Status:", "Events:")):
            keep = True
        elif line and not line.startswith(" "):
            keep = False
        if keep and any(k in line for k in ("Reason", "Message", "Events", "Normal", "Warning")):
            print(line)
    return 0
