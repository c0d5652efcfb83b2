"""Argo CD health checks in Lua (charts/mcpops/argocd/), run by a real Lua 5.1 (lupa).

Statuses come from tests/fixtures/status/ (captured from the operator on the control
plane, see tests/cluster/test_argocd_health_live.py) and from hand-written edge cases.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from argocd_lua import ARGOCD, REPO, health, script

from mcpops.api import GROUP
from mcpops.api.kinds import KINDS

FIXTURES = REPO / "tests" / "fixtures" / "status"

# Every captured object, and what Argo CD must show for it: (health, part of the message).
CAPTURED = {
    "mcpserver-healthy.json": ("Healthy", "1/1 replicas ready"),
    "mcpserver-failing.json": ("Degraded", "failed: suite smoke"),
    "mcpserver-manual.json": ("Progressing", "Promoting: revision"),
    "mcpserver-held.json": ("Suspended", "paused (annotation mcpops.dev/paused=true)"),
    "optimizationjob-solved.json": ("Healthy", "optimal solution found"),
    "optimizationjob-oom.json": ("Degraded", "raise spec.resources.limits.memory"),
    "optimizationjob-running.json": ("Progressing", "Running: the solver is running"),
}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def cond(type_: str, status: str, message: str = "", reason: str = "R") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def obj(kind: str, status: dict[str, Any] | None, generation: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "generation": generation},
        "spec": {},
    }
    if status is not None:
        out["status"] = status
    return out


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_captured_statuses(name: str) -> None:
    status, message = health(load(name))
    want, fragment = CAPTURED[name]
    assert status == want, message
    assert fragment in message


def test_every_fixture_has_an_expectation() -> None:
    assert {p.name for p in FIXTURES.glob("*.json")} == set(CAPTURED)


@pytest.mark.parametrize("kind", ["MCPServer", "OptimizationJob", "CleanupPolicy"])
def test_no_status_is_progressing(kind: str) -> None:
    assert health(obj(kind, None)) == ("Progressing", "waiting for the operator to report status")


@pytest.mark.parametrize(
    "name", ["mcpserver-healthy.json", "mcpserver-failing.json", "optimizationjob-solved.json"]
)
def test_a_generation_not_yet_observed_is_progressing_whatever_the_status_says(name: str) -> None:
    stale = load(name)
    stale["metadata"]["generation"] = stale["status"]["observedGeneration"] + 1
    gen = stale["metadata"]["generation"]
    assert health(stale) == (
        "Progressing",
        f"waiting for the operator to observe generation {gen}",
    )


def test_mcpserver_degraded_condition_wins_over_ready() -> None:
    # A failed rollout while the old revision still serves: Ready True, Degraded True.
    served = load("mcpserver-healthy.json")
    st = served["status"]
    st["conditions"] = [c for c in st["conditions"] if c["type"] != "Degraded"] + [
        cond("Degraded", "True", "revision b failed: tests")
    ]
    assert health(served) == ("Degraded", "revision b failed: tests")


@pytest.mark.parametrize(
    ("phase", "conditions", "want"),
    [
        ("Failed", [cond("Ready", "False", "spec.port: too big")], "Degraded"),
        ("Degraded", [cond("Ready", "True", "a: 1/2 ready")], "Degraded"),
        ("Verifying", [cond("Ready", "True", "b: 1/1 ready")], "Progressing"),
        ("Testing", [cond("Progressing", "True", "running test suites")], "Progressing"),
        ("Pending", [], "Progressing"),
        ("Healthy", [cond("Ready", "False", "a: 0/1 ready")], "Progressing"),
        ("Paused", [cond("Degraded", "True", "old failure")], "Suspended"),
    ],
)
def test_mcpserver_phases(phase: str, conditions: list[dict[str, Any]], want: str) -> None:
    st = {"observedGeneration": 1, "phase": phase, "conditions": conditions}
    assert health(obj("MCPServer", st))[0] == want


def test_mcpserver_progressing_message_names_phase_and_condition() -> None:
    st = {
        "observedGeneration": 1,
        "phase": "Testing",
        "conditions": [cond("Progressing", "True", "revision b: running test suites")],
    }
    assert health(obj("MCPServer", st)) == (
        "Progressing",
        "Testing: revision b: running test suites",
    )


@pytest.mark.parametrize(
    ("phase", "conditions", "want"),
    [
        ("Pending", [], "Progressing"),
        ("Running", [cond("Ready", "False")], "Progressing"),
        ("Succeeded", [], "Healthy"),
        ("Failed", [], "Degraded"),
        (None, [cond("Complete", "True")], "Healthy"),
        (None, [cond("Failed", "True")], "Degraded"),
    ],
)
def test_optimizationjob_phases(
    phase: str | None, conditions: list[dict[str, Any]], want: str
) -> None:
    st: dict[str, Any] = {"observedGeneration": 1, "conditions": conditions}
    if phase:
        st["phase"] = phase
    assert health(obj("OptimizationJob", st))[0] == want


@pytest.mark.parametrize(
    ("conditions", "want", "message"),
    [
        (
            [
                cond("Ready", "True", "last run deleted 3"),
                cond("Blocked", "True", "would delete 40 > maxDeletions 10: acknowledge"),
                cond("Degraded", "True", "1 delete failed"),
            ],
            "Suspended",
            "would delete 40 > maxDeletions 10: acknowledge",
        ),
        (
            [cond("Ready", "True", "ok"), cond("Blocked", "False"), cond("Degraded", "True", "x")],
            "Degraded",
            "x",
        ),
        ([cond("Ready", "True", "last run deleted 3")], "Healthy", "last run deleted 3"),
        ([cond("Ready", "False", "first run at 03:00")], "Progressing", "first run at 03:00"),
        ([], "Progressing", "waiting for the first run"),
    ],
)
def test_cleanuppolicy(conditions: list[dict[str, Any]], want: str, message: str) -> None:
    st = {"observedGeneration": 1, "conditions": conditions}
    assert health(obj("CleanupPolicy", st)) == (want, message)


def test_the_lua_does_not_change_the_object() -> None:
    original = load("mcpserver-failing.json")
    seen = copy.deepcopy(original)
    health(seen)
    assert seen == original


def test_one_check_per_kind_of_the_api() -> None:
    kinds = {k.kind for k in KINDS} | {"CleanupPolicy"}  # CleanupPolicy: its own issue
    assert {p.stem for p in ARGOCD.glob("*.lua")} == kinds


def test_snippet_embeds_each_lua_file_exactly() -> None:
    doc = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "argocd-cm"
    expected = {
        f"resource.customizations.health.{GROUP}_{p.stem}": script(p.stem)
        for p in ARGOCD.glob("*.lua")
    }
    assert doc["data"] == expected


def test_generator_repeats_the_api_group_correctly() -> None:
    # The generator is stdlib-only, so it repeats the API group: it must be the same.
    assert f'GROUP = "{GROUP}"' in (REPO / "hack" / "argocd_health.py").read_text()
