"""Blue-green rollouts gated by test Jobs, on the control plane.

Test pods are simulated: their outcome and termination message (the runner's
result) come from kwok Stage rules steered by the suite's podAnnotations.
"""

from __future__ import annotations

import json
import threading

from clusterkit import Cluster, OperatorProcess, wait_until
from suitekit import suite
from test_mcpserver import (
    cond,
    deployments,
    mcpserver,
    patch_spec,
    stable_revision,
    status,
    wait_ready,
)

FAST = {"scaleDownDelaySeconds": 2, "verifySeconds": 2, "progressDeadlineSeconds": 60}


class EndpointWatch:
    """Samples the stable Service's ready endpoints throughout a switch."""

    def __init__(self, cluster: Cluster, service: str, ns: str) -> None:
        self.cluster, self.service, self.ns = cluster, service, ns
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            slices = self.cluster.list(
                "endpointslices.discovery.k8s.io",
                self.ns,
                f"kubernetes.io/service-name={self.service}",
            )
            self.samples.append(
                sum(
                    1
                    for s in slices
                    for e in s.get("endpoints") or []
                    if (e.get("conditions") or {}).get("ready")
                )
            )

    def __enter__(self) -> EndpointWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_passing_tests_switch_once_without_dropping_endpoints(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("bg", replicas=2, rollout=FAST, tests=[suite()]), namespace)
    first = wait_ready(cluster, "bg", namespace)
    assert cond(first, "TestsPassed")["status"] == "True"
    assert first["tests"][0]["result"] == "Passed" and first["tests"][0]["passed"] == 1
    with EndpointWatch(cluster, "bg", namespace) as watch:
        patch_spec(cluster, "bg", namespace, {"image": "example.invalid/mcp:2"})
        st = wait_until(
            lambda: (
                (s := status(cluster, "bg", namespace)).get("activeRevision")
                != first["activeRevision"]
                and s
            ),
            timeout=60,
            what="switch to the new revision",
        )
        wait_until(
            lambda: stable_revision(cluster, "bg", namespace) == st["activeRevision"],
            what="stable Service on the new revision",
        )
    assert watch.samples and min(watch.samples) >= 1, watch.samples
    second = st["activeRevision"]
    # The candidate was tested by a Job against the preview Service before the switch.
    jobs = cluster.list("jobs", namespace, f"mcpops.dev/revision={second}")
    assert len(jobs) == 1
    env = {
        e["name"]: e.get("value")
        for e in jobs[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MCP_SERVER_URL"].startswith(f"http://bg-preview.{namespace}.svc")
    switches = cluster.wait_events(namespace, "bg", reason="TrafficSwitched", at_least=2)
    assert len(switches) == 2
    wait_until(
        lambda: (
            deployments(cluster, "bg", namespace)[first["activeRevision"]]["spec"]["replicas"] == 0
        ),
        timeout=30,
        what="previous revision scaled to zero after the window",
    )


def test_failing_tests_keep_traffic_and_are_not_retried(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("bad", rollout=FAST, tests=[suite()]), namespace)
    first = wait_ready(cluster, "bad", namespace)["activeRevision"]
    patch_spec(
        cluster,
        "bad",
        namespace,
        {"image": "example.invalid/mcp:broken", "tests": [suite(passed=False)]},
    )
    st = wait_until(
        lambda: (s := status(cluster, "bad", namespace)).get("failedRevision") and s,
        timeout=60,
        what="failedRevision recorded",
    )
    assert st["activeRevision"] == first
    assert stable_revision(cluster, "bad", namespace) == first
    degraded = cond(st, "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "RolloutFailed"
    assert "expected 3, got 4" in degraded["message"]
    assert cond(st, "TestsPassed")["status"] == "False"
    warnings = cluster.wait_events(namespace, "bad", reason="RolloutFailed")
    assert warnings and "expected 3, got 4" in warnings[0]["message"]
    failed_rev = st["failedRevision"]
    wait_until(
        lambda: deployments(cluster, "bad", namespace)[failed_rev]["spec"]["replicas"] == 0,
        what="failed candidate scaled down",
    )
    # Not retried on its own: one Job, however long we look.
    jobs = cluster.list("jobs", namespace, f"mcpops.dev/revision={failed_rev}")
    assert len(jobs) == 1
    first_job = jobs[0]["metadata"]["name"]
    # A person asks for a retry: a new attempt runs (and fails again, deterministically).
    cluster.kubectl("annotate", "mcpserver", "bad", "-n", namespace, "mcpops.dev/retry=1")
    wait_until(
        lambda: len(cluster.list("jobs", namespace, f"mcpops.dev/revision={failed_rev}")) == 2,
        timeout=60,
        what="a second attempt",
    )
    # failedRevision already names it from the first attempt: wait for the second Job's
    # verdict in status, not for a value that was there before the retry.
    wait_until(
        lambda: (
            (s := status(cluster, "bad", namespace)).get("failedRevision") == failed_rev
            and any(
                t.get("job") not in (None, first_job) and t.get("result") == "Failed"
                for t in s.get("tests") or []
            )
        ),
        timeout=60,
        what="failed again",
    )
    assert stable_revision(cluster, "bad", namespace) == first


def test_candidate_never_available_hits_the_deadline(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    rollout = {**FAST, "progressDeadlineSeconds": 10}
    cluster.apply(mcpserver("slow", rollout=rollout), namespace)
    first = wait_ready(cluster, "slow", namespace)["activeRevision"]
    patch_spec(
        cluster,
        "slow",
        namespace,
        {"image": "example.invalid/mcp:hangs", "podAnnotations": {"sim.mcpops.dev/ready": "false"}},
    )
    st = wait_until(
        lambda: (s := status(cluster, "slow", namespace)).get("failedRevision") and s,
        timeout=60,
        what="deadline fires",
    )
    assert "progressDeadlineSeconds" in cond(st, "Degraded")["message"]
    assert st["activeRevision"] == first and stable_revision(cluster, "slow", namespace) == first


def test_evicted_test_pod_is_retried_not_passed(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("evict", rollout=FAST), namespace)
    first = wait_ready(cluster, "evict", namespace)["activeRevision"]
    patch_spec(
        cluster,
        "evict",
        namespace,
        {"image": "example.invalid/mcp:2", "tests": [suite(outcome="hang")]},
    )
    pod = wait_until(
        lambda: next(
            (
                p
                for p in cluster.list("pods", namespace, "mcpops.dev/suite=smoke")
                if (p.get("status") or {}).get("phase") == "Running"
            ),
            None,
        ),
        timeout=60,
        what="a running test pod",
    )
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod["metadata"]["name"], "namespace": namespace},
    }
    cluster.kubectl(
        "create", "--raw",
        f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/eviction",
        "-f", "-", input_=json.dumps(eviction),
    )  # fmt: skip
    wait_until(
        lambda: any(
            p["metadata"]["uid"] != pod["metadata"]["uid"]
            for p in cluster.list("pods", namespace, "mcpops.dev/suite=smoke")
        ),
        timeout=60,
        what="a replacement test pod",
    )
    st = status(cluster, "evict", namespace)
    assert st["activeRevision"] == first and not st.get("failedRevision")
    assert st["phase"] == "Testing"


def test_manual_promote_and_abort(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    rollout = {**FAST, "autoPromote": False}
    cluster.apply(mcpserver("hand", rollout=rollout, tests=[suite()]), namespace)
    # Even the first revision waits for a person.
    st = wait_until(
        lambda: (s := status(cluster, "hand", namespace)).get("phase") == "Promoting" and s,
        timeout=60,
        what="awaiting promotion",
    )
    rev = st["candidateRevision"]
    assert stable_revision(cluster, "hand", namespace) == "none"
    cluster.kubectl("annotate", "mcpserver", "hand", "-n", namespace, f"mcpops.dev/promote={rev}")
    wait_until(
        lambda: status(cluster, "hand", namespace).get("activeRevision") == rev,
        what="promoted by hand",
    )
    patch_spec(cluster, "hand", namespace, {"image": "example.invalid/mcp:2"})
    st = wait_until(
        lambda: (s := status(cluster, "hand", namespace)).get("phase") == "Promoting" and s,
        timeout=60,
        what="second revision awaiting promotion",
    )
    cluster.kubectl("annotate", "mcpserver", "hand", "-n", namespace, "mcpops.dev/abort=now")
    st = wait_until(
        lambda: (s := status(cluster, "hand", namespace)).get("failedRevision") and s,
        what="aborted",
    )
    assert "aborted" in cond(st, "Degraded")["message"]
    assert st["activeRevision"] == rev == stable_revision(cluster, "hand", namespace)


def test_pause_holds_the_rollout(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("held", rollout=FAST, tests=[suite()]), namespace)
    first = wait_ready(cluster, "held", namespace)["activeRevision"]
    cluster.kubectl("annotate", "mcpserver", "held", "-n", namespace, "mcpops.dev/paused=true")
    patch_spec(cluster, "held", namespace, {"image": "example.invalid/mcp:2"})
    st = wait_until(
        lambda: (s := status(cluster, "held", namespace)).get("phase") == "Paused" and s,
        what="paused",
    )
    assert not cluster.list("jobs", namespace, f"mcpops.dev/revision={st['candidateRevision']}")
    cluster.kubectl("annotate", "mcpserver", "held", "-n", namespace, "mcpops.dev/paused-")
    wait_until(
        lambda: status(cluster, "held", namespace).get("activeRevision") not in {None, first},
        timeout=60,
        what="resumed and switched",
    )


def test_newer_spec_supersedes_a_rollout_in_test(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("sup", rollout=FAST), namespace)
    wait_ready(cluster, "sup", namespace)
    patch_spec(
        cluster,
        "sup",
        namespace,
        {"image": "example.invalid/mcp:2", "tests": [suite(outcome="hang")]},
    )
    st = wait_until(
        lambda: (s := status(cluster, "sup", namespace)).get("phase") == "Testing" and s,
        timeout=60,
        what="testing revision 2",
    )
    stale = st["candidateRevision"]
    wait_until(lambda: cluster.list("jobs", namespace, f"mcpops.dev/revision={stale}"), what="job")
    patch_spec(cluster, "sup", namespace, {"image": "example.invalid/mcp:3", "tests": [suite()]})
    st = wait_until(
        lambda: (s := wait_ready(cluster, "sup", namespace))["activeRevision"] != stale and s,
        timeout=60,
        what="revision 3 active",
    )
    wait_until(
        lambda: not cluster.list("jobs", namespace, f"mcpops.dev/revision={stale}"),
        what="the superseded test Job cancelled",
    )
    assert cluster.wait_events(namespace, "sup", reason="Superseded")


def test_post_switch_failure_returns_traffic(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    rollout = {"scaleDownDelaySeconds": 60, "verifySeconds": 60}
    cluster.apply(mcpserver("verify", rollout=rollout), namespace)
    first = wait_ready(cluster, "verify", namespace)["activeRevision"]
    patch_spec(cluster, "verify", namespace, {"image": "example.invalid/mcp:2"})
    st = wait_until(
        lambda: (s := status(cluster, "verify", namespace)).get("phase") == "Verifying" and s,
        timeout=60,
        what="switched, verifying",
    )
    second = st["activeRevision"]
    # The new revision goes bad inside the window.
    for pod in cluster.list("pods", namespace, f"mcpops.dev/revision={second}"):
        cluster.kubectl(
            "annotate",
            "pod",
            pod["metadata"]["name"],
            "-n",
            namespace,
            "sim.mcpops.dev/ready=false",
        )
    st = wait_until(
        lambda: (s := status(cluster, "verify", namespace)).get("activeRevision") == first and s,
        timeout=60,
        what="automatic return",
    )
    assert stable_revision(cluster, "verify", namespace) == first
    assert st["failedRevision"] == second
    assert cond(st, "RolledBack")["status"] == "True"
    assert cluster.wait_events(namespace, "verify", reason="RolledBack")


def test_rollback_to_an_earlier_spec_reuses_its_deployment(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("back", rollout=FAST), namespace)
    first = wait_ready(cluster, "back", namespace)["activeRevision"]
    uid = deployments(cluster, "back", namespace)[first]["metadata"]["uid"]
    patch_spec(cluster, "back", namespace, {"image": "example.invalid/mcp:2"})
    wait_until(
        lambda: wait_ready(cluster, "back", namespace)["activeRevision"] != first,
        timeout=60,
        what="second revision",
    )
    patch_spec(cluster, "back", namespace, {"image": "example.invalid/mcp:1"})
    wait_until(
        lambda: wait_ready(cluster, "back", namespace)["activeRevision"] == first,
        timeout=60,
        what="back on the first revision",
    )
    assert deployments(cluster, "back", namespace)[first]["metadata"]["uid"] == uid


def test_operator_killed_at_each_phase_switches_exactly_once(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    # Windows long enough that each phase can be seen (and the operator killed in it).
    rollout = {**FAST, "scaleDownDelaySeconds": 10, "verifySeconds": 10}
    cluster.apply(mcpserver("crash", rollout=rollout, tests=[suite(delay="4s")]), namespace)
    first = wait_ready(cluster, "crash", namespace, timeout=60)["activeRevision"]
    patch_spec(cluster, "crash", namespace, {"image": "example.invalid/mcp:2"})
    for phase in ("Testing", "Verifying"):
        wait_until(
            lambda p=phase: status(cluster, "crash", namespace).get("phase") == p,  # type: ignore[misc]
            timeout=60,
            what=f"phase {phase}",
        )
        if phase == "Verifying":
            # The switch's Event is posted after the status write; one in flight at a
            # kill is lost (tests/cluster/test_faults.py kills at the exact write).
            cluster.wait_events(namespace, "crash", reason="TrafficSwitched", at_least=2)
        operator.kill()
        operator.start()
    st = wait_until(
        lambda: (
            (s := wait_ready(cluster, "crash", namespace, timeout=60))["phase"] == "Healthy" and s
        ),
        timeout=60,
        what="healthy on the new revision",
    )
    assert st["activeRevision"] != first
    assert stable_revision(cluster, "crash", namespace) == st["activeRevision"]
    switches = cluster.wait_events(namespace, "crash", reason="TrafficSwitched", at_least=2)
    assert len(switches) == 2  # first + one switch
    assert len(cluster.list("jobs", namespace, f"mcpops.dev/revision={st['activeRevision']}")) == 1
