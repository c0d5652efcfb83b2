"""CleanupPolicy in Enforce mode against real Jobs: the finished ones go, with their pods;
everything else stays."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from clusterkit import Cluster, wait_until
from conftest import Installed
from e2ekit import image, pod_manifest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NEVER = "0 0 1 1 *"  # once a year: only the run-now annotation starts a run here


def job(name: str, labels: dict[str, str], command: list[str]) -> dict[str, Any]:
    pod = pod_manifest(name, image("mcp-python"), command, labels=labels)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "template": {"metadata": {"labels": labels}, "spec": pod["spec"]},
        },
    }


def job_done(cluster: Cluster, ns: str, name: str) -> bool:
    st = (cluster.get("job", name, ns) or {}).get("status") or {}
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in st.get("conditions") or []
    )


def finished_seconds_ago(cluster: Cluster, ns: str, name: str) -> float:
    """How long ago the Job finished by the timestamp the policy reads (its Complete/Failed
    condition; -1 while unfinished). API times are whole seconds, so a Job that finished
    "1s" ago by its stamp may have finished just now."""
    st = (cluster.get("job", name, ns) or {}).get("status") or {}
    stamps = [st.get("completionTime")] + [
        c.get("lastTransitionTime")
        for c in st.get("conditions") or []
        if c["type"] in ("Complete", "Failed") and c["status"] == "True"
    ]
    times = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps if s]
    return (datetime.now(UTC) - max(times)).total_seconds() if times else -1.0


def pods_of_job(cluster: Cluster, ns: str, name: str) -> list[dict[str, Any]]:
    return cluster.list("pods", ns, f"job-name={name}")


def test_enforce_deletes_finished_jobs_and_their_pods_and_nothing_else(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    ours = {"cleanup-e2e": "yes"}
    specs = {
        "passed": job("passed", ours, ["python3", "-c", "pass"]),
        "failed": job("failed", ours, ["python3", "-c", "raise SystemExit(3)"]),
        "busy": job("busy", ours, ["sleep", "600"]),  # matches, but not finished
        "other": job("other", {"cleanup-e2e": "no"}, ["python3", "-c", "pass"]),
    }
    for manifest in specs.values():
        cluster.apply(manifest, namespace)
    for name in ("passed", "failed", "other"):
        wait_until(lambda n=name: job_done(cluster, namespace, n), timeout=120, what=f"{name} done")
    wait_until(
        lambda: any(
            p["status"].get("phase") == "Running" for p in pods_of_job(cluster, namespace, "busy")
        ),
        timeout=120,
        what="busy running",
    )
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "bystander", "labels": ours},
        },
        namespace,
    )
    policy = {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "CleanupPolicy",
        "metadata": {"name": "finished-jobs"},
        "spec": {
            "schedule": NEVER,
            "mode": "Enforce",
            "rules": [
                {
                    "name": "finished",
                    "resources": {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "selector": {"matchLabels": ours},
                    },
                    "olderThan": "1s",
                    "clock": "finished",
                }
            ],
        },
    }
    cluster.apply(policy, namespace)
    wait_until(
        lambda: ((cluster.get("cleanuppolicy", "finished-jobs", namespace) or {}).get("status")
                 or {}).get("nextRunTime"),
        what="the policy scheduled",
    )  # fmt: skip
    # olderThan 1s must hold for both finished Jobs by their own stamps before the run, or
    # the run is right to leave one (CI once ran it within the second a Job failed).
    for name in ("passed", "failed"):
        wait_until(
            lambda n=name: finished_seconds_ago(cluster, namespace, n) >= 3,
            timeout=30,
            what=f"{name} finished over 3 s ago by its stamps",
        )
    before = {n: (cluster.get("job", n, namespace) or {}).get("status") for n in specs}
    cluster.kubectl(
        "annotate", "cleanuppolicy", "finished-jobs", "-n", namespace, "mcpops.dev/run-now=go"
    )
    st = wait_until(
        lambda: (
            (s := (cluster.get("cleanuppolicy", "finished-jobs", namespace) or {}).get("status")
             or {}).get("runNowToken") == "go" and "runStarted" not in s and s
        ),
        timeout=90,
        what="the run to finish",
    )  # fmt: skip
    assert st["lastRun"]["deleted"] == 2, json.dumps({"policy": st, "jobs": before}, indent=1)
    assert {d["name"] for d in st["deletions"]} == {"passed", "failed"}
    # The Jobs are gone and so are their pods (real pods, deleted by the kubelet).
    wait_until(
        lambda: (
            not pods_of_job(cluster, namespace, "passed")
            and not pods_of_job(cluster, namespace, "failed")
        ),
        timeout=60,
        what="the deleted Jobs' pods gone",
    )
    assert cluster.get("job", "passed", namespace) is None
    assert cluster.get("job", "failed", namespace) is None
    # Nothing else.
    assert cluster.get("job", "busy", namespace) is not None
    assert any(
        p["status"].get("phase") == "Running" for p in pods_of_job(cluster, namespace, "busy")
    )
    assert cluster.get("job", "other", namespace) is not None
    assert pods_of_job(cluster, namespace, "other")
    assert cluster.get("configmap", "bystander", namespace) is not None
