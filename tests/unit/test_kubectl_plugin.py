"""kubectl mcpops: argument parsing, the patches it sends, what it prints, and rollback's
spec from the record on a revision's Deployment (checked against the operator's own
revision hash)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver import desired
from mcpops.kubectl import views
from mcpops.kubectl.cli import (
    PluginError,
    abort_patch,
    acknowledge_patch,
    parser,
    promote_patch,
    retry_patch,
)
from mcpops.kubectl.rollback import PodImages, RollbackError, images_of, rollback_spec, spec_patch
from mcpops.settings import DEFAULT_OPERATOR_IMAGE, DEFAULT_PROXY_IMAGE
from mcpops_common.names import ABORT_ANNOTATION, PROMOTE_ANNOTATION, RETRY_ANNOTATION

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "status"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    data["metadata"].setdefault("namespace", "team-a")
    return data


# ---------------------------------------------------------------- arguments


def test_parser_global_flags_and_commands() -> None:
    args = parser().parse_args(
        ["--kubeconfig", "/k", "--context", "c", "-n", "ns", "promote", "s", "--revision", "r1"]
    )
    assert (args.kubeconfig, args.context, args.namespace) == ("/k", "c", "ns")
    assert (args.command, args.name, args.revision, args.dry_run) == ("promote", "s", "r1", False)
    assert parser().parse_args(["status", "-A"]).all_namespaces is True
    assert parser().parse_args(["result", "j", "-o", "json"]).output == "json"
    args = parser().parse_args(["rollback", "s", "--to-revision", "abc", "--dry-run"])
    assert (args.to_revision, args.dry_run) == ("abc", True)


@pytest.mark.parametrize(
    "argv",
    [[], ["rollback", "s"], ["promote"], ["result", "j", "-o", "yaml"], ["frobnicate"]],
)
def test_parser_refuses(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(argv)
    assert exc.value.code == 2


# ---------------------------------------------------------------- the patches


def test_promote_sets_the_annotation_to_the_candidate() -> None:
    server = fixture("mcpserver-manual.json")
    rev = server["status"]["candidateRevision"]
    body, note = promote_patch(server, None)
    assert body == {"metadata": {"annotations": {PROMOTE_ANNOTATION: rev}}}
    assert "tests passed: traffic switches now" in note
    body, _ = promote_patch(server, "other")
    assert body["metadata"]["annotations"][PROMOTE_ANNOTATION] == "other"


def test_promote_refuses_without_candidate_or_for_the_active_revision() -> None:
    healthy = fixture("mcpserver-healthy.json")
    with pytest.raises(PluginError, match="no candidate revision"):
        promote_patch(healthy, None)
    with pytest.raises(PluginError, match="already serves"):
        promote_patch(healthy, healthy["status"]["activeRevision"])


def test_abort_and_retry_use_the_operators_annotations_once_per_value() -> None:
    manual = fixture("mcpserver-manual.json")
    body, note = abort_patch(manual, "t1")
    assert body == {"metadata": {"annotations": {ABORT_ANNOTATION: "t1"}}}
    assert manual["status"]["candidateRevision"] in note
    failing = fixture("mcpserver-failing.json")
    body, note = retry_patch(failing, "t2")
    assert body == {"metadata": {"annotations": {RETRY_ANNOTATION: "t2"}}}
    assert failing["status"]["failedRevision"] in note
    with pytest.raises(PluginError, match="no rollout to abort"):
        abort_patch(fixture("mcpserver-healthy.json"), "t3")
    with pytest.raises(PluginError, match="no failed revision"):
        retry_patch(fixture("mcpserver-healthy.json"), "t4")


def test_spec_patch_sets_changes_and_removes_what_is_gone() -> None:
    old = {"image": "a", "env": [{"name": "X", "value": "1"}], "replicas": 2}
    new = {"image": "b", "replicas": 2}
    assert spec_patch(old, new) == {"spec": {"image": "b", "env": None}}


# ---------------------------------------------------------------- views


def test_table_aligns_columns_and_marks_empty_cells() -> None:
    out = views.table(["name", "phase"], [["a", "Healthy"], ["longer", None]])
    assert out.splitlines() == ["NAME     PHASE", "a        Healthy", "longer   <none>"]


def test_fleet_view_of_captured_objects() -> None:
    servers = [fixture(f"mcpserver-{n}.json") for n in ("failing", "healthy", "held", "manual")]
    jobs = [fixture(f"optimizationjob-{n}.json") for n in ("oom", "solved")]
    out = views.fleet(servers, jobs, None, now=NOW)
    sections = out.split("\n\n")
    assert [s.splitlines()[0] for s in sections] == [
        "MCPServers",
        "OptimizationJobs",
        "Needs attention",
    ]
    rows = {line.split()[0]: line.split() for line in sections[0].splitlines()[2:]}
    assert rows["healthy"][1:3] == ["Healthy", "1/1"]
    assert rows["failing"][1] == "Degraded" and "1/1 failed" in " ".join(rows["failing"])
    assert rows["manual"][1] == "Promoting"
    jobs_rows = {line.split()[0]: line.split() for line in sections[1].splitlines()[2:]}
    assert jobs_rows["solved"][1:5] == ["Succeeded", "CP_SAT", "OPTIMAL", "11"]
    assert jobs_rows["oom"][1] == "Failed"
    attention = sections[2]
    assert "kubectl mcpops promote manual" in attention
    assert "held: rollout paused" in attention
    assert "failing: revision" in attention and "healthy" not in attention
    assert "CleanupPolicies" not in out  # CRD absent: no section


def test_a_server_waiting_for_a_secret_needs_attention() -> None:
    server = fixture("mcpserver-healthy.json")
    message = "Secret creds (spec.envFrom[0].secretRef) does not exist"
    server["status"]["conditions"].append(
        {"type": "ReferencesResolved", "status": "False", "reason": "MissingReference",
         "message": message}
    )  # fmt: skip
    line = views.attention(server)
    assert line is not None and message in line and "waits" in line


def test_fleet_view_all_namespaces_and_cleanup_policies() -> None:
    policy = {
        "metadata": {"name": "old", "namespace": "ops"},
        "spec": {"mode": "Enforce"},
        "status": {
            "lastRunTime": "2026-11-22T05:30:00Z",
            "lastRun": {"candidates": 40, "deleted": 0},
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Blocked", "status": "True", "message": "40 > 10: acknowledge"},
            ],
        },
    }
    out = views.fleet([], [], [policy], now=NOW, all_namespaces=True)
    lines = out.split("CleanupPolicies\n")[1].splitlines()
    assert lines[0].split() == [
        "NAMESPACE", "NAME", "MODE", "LAST", "RUN", "CANDIDATES", "DELETED", "BLOCKED", "READY"
    ]  # fmt: skip
    assert lines[1].split() == ["ops", "old", "Enforce", "30m", "ago", "40", "0", "yes", "True"]
    assert "old: cleanup blocked: 40 > 10: acknowledge" in out


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s"), (125, "2m"), (7300, "2h"), (3 * 86400 + 5, "3d")]
)
def test_age(seconds: int, text: str) -> None:
    then = datetime.fromtimestamp(NOW.timestamp() - seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert views.age(then, NOW) == text


def test_tests_view_lists_suites_and_failure_messages() -> None:
    out = views.tests(fixture("mcpserver-failing.json"))
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["SUITE", "REVISION", "RESULT"]
    assert lines[1].split()[:6] == ["smoke", lines[1].split()[1], "Failed", "1", "1", "0"]
    assert "  smoke: call:add: expected 3, got 4" in lines
    assert lines[-1] == "TestsPassed=False (SuiteFailed)"
    assert views.tests(fixture("mcpserver-held.json")) == "held: no test results yet\n"


def test_result_view_with_values_duals_and_reduced_costs() -> None:
    job = fixture("optimizationjob-solved.json")
    solution = {"values": {"x": 3.0, "y": 1.0}, "duals": {"cap": 2.0}, "reducedCosts": None}
    out = views.result(job, solution)
    assert out.startswith("solved: Succeeded\n")
    assert "  objective: 11" in out and "  status:    OPTIMAL" in out
    assert "VARIABLE   VALUE\nx          3\ny          1" in out
    assert "CONSTRAINT   DUAL\ncap          2" in out
    failed = views.result(fixture("optimizationjob-oom.json"), None)
    assert failed.splitlines()[0] == "oom: Failed" and failed.endswith("no solution\n")


# ---------------------------------------------------------------- rollback


def server_for(spec: dict[str, Any], name: str = "srv") -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": name, "namespace": "ns", "uid": "u1", "generation": 2},
        "spec": spec,
    }


def stored_deployment(
    spec: dict[str, Any],
    name: str = "srv",
    image: str = DEFAULT_OPERATOR_IMAGE,
    proxy_image: str = DEFAULT_PROXY_IMAGE,
) -> tuple[dict[str, Any], str]:
    """The revision's Deployment as the API server returns it (with its defaults filled in)."""
    model = MCPServerSpec.model_validate(spec)
    template = desired.pod_template(name, model, image, proxy_image=proxy_image)
    rev = desired.revision_for(template)
    record = desired.spec_record(model, image, proxy_image)
    dep = desired.deployment(server_for(spec, name), template, rev, 1, record=record)
    stored = copy.deepcopy(dep)
    pod = stored["spec"]["template"]["spec"]
    for c in pod["containers"] + pod.get("initContainers", []):
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        for var in c.get("env") or []:
            ref = (var.get("valueFrom") or {}).get("fieldRef")
            if ref is not None:
                ref.setdefault("apiVersion", "v1")
    pod.setdefault("restartPolicy", "Always")
    pod.setdefault("dnsPolicy", "ClusterFirst")
    return stored, rev


SPECS = [
    {"image": "img:1"},
    {"image": "img:1", "imagePullPolicy": "Always", "port": 3001, "path": "/x"},
    {"image": "img:1", "transport": "sse", "path": "/sse", "args": ["--sse"]},
    {"image": "img:1", "transport": "stdio", "command": ["python", "-m", "srv"], "args": ["-v"]},
    {
        "image": "img:1",
        "env": [
            {"name": "A", "value": "1"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "cm"}}],
        "resources": {"limits": {"memory": "1Gi"}},
        "readiness": {"periodSeconds": 5, "timeoutSeconds": 7},
        "runAsUser": 1000,
        "serviceAccountName": "sa",
        "nodeSelector": {"disk": "ssd"},
        "podLabels": {"team": "a"},
        "podAnnotations": {"note": "x"},
    },
]


@pytest.mark.parametrize("old", SPECS, ids=range(len(SPECS)))
def test_rollback_finds_the_spec_of_a_kept_revision(old: dict[str, Any]) -> None:
    dep, rev = stored_deployment(old)
    current = {
        "image": "img:2",
        "env": [{"name": "NEW", "value": "y"}],
        "replicas": 3,
        "rollout": {"autoPromote": False},
        "tests": [{"name": "smoke", "builtin": {}}],
    }
    spec, how = rollback_spec(server_for(current), rev, dep)
    with_defaults = MCPServerSpec.model_validate(spec)
    assert desired.revision_of("srv", with_defaults) == rev
    # What is not part of the pod template stays as it is now.
    assert spec["replicas"] == 3 and spec["rollout"] == {"autoPromote": False}
    assert spec["tests"] == current["tests"]
    assert how in {"the revision's image", "the revision's pod template"}


def test_rollback_of_an_image_only_change_changes_only_the_image() -> None:
    dep, rev = stored_deployment({"image": "img:1", "replicas": 2})
    server = server_for({"image": "img:2", "replicas": 2})
    spec, how = rollback_spec(server, rev, dep)
    assert how == "the revision's image"
    assert spec_patch(server["spec"], spec) == {"spec": {"image": "img:1"}}


def test_rollback_from_the_history_record_when_the_deployment_is_gone() -> None:
    _, rev = stored_deployment({"image": "img:1"})
    server = server_for({"image": "img:2"})
    server["status"] = {"revisions": [{"revision": rev, "image": "img:1"}]}
    spec, how = rollback_spec(server, rev, None, PodImages())
    assert spec == {"image": "img:1"} and how == "the image recorded in status.revisions"


def test_rollback_refuses_what_it_cannot_rebuild() -> None:
    server = server_for({"image": "img:2"})
    with pytest.raises(RollbackError, match=r"neither in status\.revisions"):
        rollback_spec(server, "abc", None)
    # Recorded, but the image alone does not make that revision (other fields differed).
    _, rev = stored_deployment({"image": "img:1", "port": 9000})
    server["status"] = {"revisions": [{"revision": rev, "image": "img:1"}]}
    with pytest.raises(RollbackError, match="no spec found"):
        rollback_spec(server, rev, None, PodImages())


def test_rollback_uses_the_images_the_revision_was_built_with() -> None:
    image, proxy = "registry.example/mcpops:9", "registry.example/mcpops-proxy:9"
    for transport in ("sse", "streamable-http"):  # the operator's image, the proxy's
        spec0 = {"image": "img:1", "port": 9000, "transport": transport}
        dep, rev = stored_deployment(spec0, image=image, proxy_image=proxy)
        spec, _ = rollback_spec(server_for({"image": "img:2", "transport": transport}), rev, dep)
        model = MCPServerSpec.model_validate(spec)
        assert desired.revision_of("srv", model, image, proxy) == rev
        # Without the record: the images read from the template itself.
        assert images_of(dep["spec"]["template"]) == (
            PodImages(operator=image) if transport == "sse" else PodImages(proxy=proxy)
        )


names = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    image=st.sampled_from(["a:1", "b/c:2", "reg.io/x@sha256:" + "0" * 64]),
    transport=st.sampled_from(["streamable-http", "sse", "stdio"]),
    port=st.integers(1024, 65535),
    env=st.dictionaries(names, names, max_size=3),
    labels=st.dictionaries(names, names, max_size=2),
    period=st.integers(1, 300),
    timeout=st.integers(1, 60),
    uid=st.none() | st.integers(1, 70000),
)
def test_spec_record_remakes_the_pod_template(
    image: str,
    transport: str,
    port: int,
    env: dict[str, str],
    labels: dict[str, str],
    period: int,
    timeout: int,
    uid: int | None,
) -> None:
    spec: dict[str, Any] = {
        "image": image,
        "transport": transport,
        "port": port,
        "env": [{"name": k.upper(), "value": v} for k, v in env.items()],
        "podLabels": labels,
        "readiness": {"periodSeconds": period, "timeoutSeconds": timeout},
    }
    if transport == "stdio":
        spec["command"] = ["srv", "--stdio"]
    if uid:
        spec["runAsUser"] = uid
    dep, rev = stored_deployment(spec)
    recorded = desired.read_spec_record(dep)
    assert recorded is not None
    fields, _, _ = recorded
    fields.pop("imagePullPolicy", None)  # defaulted by the API server, as above
    assert desired.revision_of("srv", MCPServerSpec.model_validate(fields)) == rev


def test_acknowledge_names_exactly_the_reported_block() -> None:
    held = {
        "metadata": {"name": "tidy"},
        "status": {
            "breaker": {"token": "20261122T053000Z-1234"},
            "conditions": [
                {"type": "Blocked", "status": "True", "message": "1234 candidates > 500"}
            ],
        },
    }
    body, note = acknowledge_patch(held)
    token = "20261122T053000Z-1234"
    assert body == {"metadata": {"annotations": {"mcpops.dev/acknowledge": token}}}
    assert "1234 candidates" in note
    free = {"metadata": {"name": "tidy"}, "status": {"conditions": [
        {"type": "Blocked", "status": "False", "reason": "BelowThreshold"}
    ]}}  # fmt: skip
    with pytest.raises(PluginError, match="nothing to acknowledge"):
        acknowledge_patch(free)
    assert parser().parse_args(["run-now", "tidy", "--dry-run"]).command == "run-now"


# ---------------------------------------------------------------- OptimizationJob: cancel, logs


class _Jobs:
    """The plugin's reads and writes for OptimizationJobs, over a dict (what `run` calls)."""

    namespace = "ns"

    def __init__(self, status: dict[str, Any], log: str = "") -> None:
        self.job = {"metadata": {"name": "mip", "namespace": "ns"}, "status": status}
        self.patches: list[dict[str, Any]] = []
        self.log = log

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.job

    def patch(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.patches.append(body)

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        assert selector == "job-name=mip"
        return [
            {"metadata": {"name": "mip-old", "creationTimestamp": "2026-01-01T00:00:00Z"}},
            {"metadata": {"name": "mip-new", "creationTimestamp": "2026-01-01T00:01:00Z"}},
        ]

    def pod_log(self, namespace: str, pod: str, container: str, tail: int | None) -> str:
        assert (pod, container) == ("mip-new", "solver")
        return self.log


def test_cancel_sets_the_annotation() -> None:
    from mcpops.kubectl.cli import run
    from mcpops_common.names import CANCEL_ANNOTATION

    kube = _Jobs({"phase": "Running"})
    out = run(parser().parse_args(["cancel", "mip"]), kube)  # type: ignore[arg-type]
    assert kube.patches == [{"metadata": {"annotations": {CANCEL_ANNOTATION: "true"}}}]
    assert "kubectl patch optimizationjob mip -n ns" in out
    dry = _Jobs({"phase": "Running"})
    run(parser().parse_args(["cancel", "mip", "--dry-run"]), dry)  # type: ignore[arg-type]
    assert dry.patches == []


def test_logs_reads_the_newest_solver_pod_and_renders_progress() -> None:
    from mcpops.kubectl.cli import run

    lines = [
        {"event": "solver log", "line": "L 202 33 81 0.00% 0 19",
         "timestamp": "2026-01-01T00:00:01Z"},
        {"event": "progress", "objective": 19.0, "bound": 0.0, "gap": 1.0, "solutionsFound": 4,
         "elapsedSeconds": 5.0, "timestamp": "2026-01-01T00:00:05Z", "level": "info"},
    ]  # fmt: skip
    log = "\n".join(json.dumps(d) for d in lines) + "\nnative text\n"
    kube = _Jobs({"phase": "Running", "job": "mip"}, log)
    out = run(parser().parse_args(["logs", "mip"]), kube)  # type: ignore[arg-type]
    assert out.splitlines() == [
        "00:00:01 | L 202 33 81 0.00% 0 19",
        "00:00:05 progress: objective 19, bound 0, gap 1, 4 solutions, 5s",
        "native text",
    ]
    raw = run(parser().parse_args(["logs", "mip", "--raw"]), kube)  # type: ignore[arg-type]
    assert raw == log
    with pytest.raises(PluginError, match="no solver Job yet"):
        run(parser().parse_args(["logs", "mip"]), _Jobs({"phase": "Queued"}))  # type: ignore[arg-type]


def test_result_view_of_a_running_job_shows_its_progress() -> None:
    job = {
        "metadata": {"name": "mip"},
        "status": {"phase": "Running", "progress": {"objective": 19.0, "gap": 0.5}},
    }
    assert "so far:    objective 19, gap 0.5" in views.result(job, None)
