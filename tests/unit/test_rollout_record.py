"""status.rollout as written by earlier versions of mcpops (an untyped map) is read by the
typed RolloutRecord: the same keys, nothing lost, and nothing that could stop a reconcile."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from test_mcpserver_plan import T0, FakeCluster, server

from mcpops.api.kinds import MCPSERVER
from mcpops.api.mcpserver import MCPServerSpec, RolloutRecord
from mcpops.gen.crds import crd
from mcpops.kinds.mcpserver.desired import revision_of
from mcpops.kinds.mcpserver.plan import plan

# Every key the previous (untyped) version wrote, with the values it wrote.
OLD_ROLLOUT: dict[str, Any] = {
    "revision": "abc1234567",
    "attempt": 3,
    "startedAt": "2026-01-01T00:00:00Z",
    "pausedAt": "2026-01-01T00:00:05Z",
    "testsPassedAt": "2026-01-01T00:00:09Z",
    "previous": "0ld0000000",
    "switchedAt": "2026-01-01T00:00:10Z",
    "baselines": {"smoke": '{"suite":"smoke","outcome":"Passed"}'},
    "retryToken": "r1",
    "abortToken": "a1",
    "failureReason": "suite smoke: 1 check(s) failed",
    "rolledBack": True,
}


# Keys the typed record gained after the untyped version.
ADDED_SINCE = {"failedAt", "drainStartedAt", "drainSessions", "analysisResult", "analysisMessage"}


def test_every_key_the_untyped_record_had_reads_back_unchanged() -> None:
    assert RolloutRecord.load(OLD_ROLLOUT).to_wire() == OLD_ROLLOUT
    assert RolloutRecord.load({}).to_wire() == {}


def test_what_cannot_be_read_is_dropped_not_fatal() -> None:
    odd = {**OLD_ROLLOUT, "attempt": "not a number", "baselines": ["x"], "fromTheFuture": 1}
    record = RolloutRecord.load(odd).to_wire()
    assert "attempt" not in record and "baselines" not in record and "fromTheFuture" not in record
    assert record["revision"] == OLD_ROLLOUT["revision"]
    assert RolloutRecord.load(None).to_wire() == {}
    assert RolloutRecord.load("a string").to_wire() == {}


def test_the_crd_describes_every_key_instead_of_preserving_unknown_fields() -> None:
    schema = crd(MCPSERVER)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rollout = schema["properties"]["status"]["properties"]["rollout"]
    assert "x-kubernetes-preserve-unknown-fields" not in rollout
    assert set(rollout["properties"]) == set(OLD_ROLLOUT) | ADDED_SINCE
    assert all(p.get("description") for p in rollout["properties"].values())


def test_a_server_written_by_the_previous_version_reconciles_on() -> None:
    """Mid-rollout status of the untyped version (and a stray key, and a bad value): the
    plan takes the rollout up where it was, keeps its attempt, and writes a record that
    reads back the same."""
    spec = {"image": "img:2", "rollout": {"progressDeadlineSeconds": 600}}
    candidate = revision_of("s", MCPServerSpec.model_validate(spec))
    old_status = {
        "observedGeneration": 2,
        "phase": "Progressing",
        "candidateRevision": candidate,
        "revisions": [
            {"revision": candidate, "image": "img:2", "createdAt": "2026-01-01T00:00:00Z"}
        ],
        "rollout": {
            "revision": candidate,
            "attempt": 4,
            "startedAt": "2026-01-01T00:00:00Z",
            "abortToken": "a1",
            "fromAnOlderVersion": {"x": 1},
        },
    }
    srv = server(spec, generation=2, status=copy.deepcopy(old_status))
    cluster = FakeCluster()
    result = cluster.run(srv, T0 + timedelta(seconds=5))
    rollout = result.status["rollout"]
    assert rollout["revision"] == candidate and rollout["attempt"] == 4
    assert rollout["startedAt"] == "2026-01-01T00:00:00Z" and rollout["abortToken"] == "a1"
    assert "fromAnOlderVersion" not in rollout
    assert result.status["candidateRevision"] == candidate
    assert not [e for e in result.events if e.reason == "RolloutStarted"]  # not restarted
    assert RolloutRecord.load(rollout).to_wire() == rollout

    bad = server(spec, generation=2, status={**old_status, "rollout": {"attempt": "x"}})
    assert plan(bad, cluster.observed(), T0)  # no exception: a fresh attempt instead
