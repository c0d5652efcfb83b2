"""The typed data one MCPServer reconcile works on: what it decides from (`Inputs`), the
rollout as the steps move it (`State`), and what it hands the writer (`Plan`). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from mcpops import PROXY_IMAGE
from mcpops.api.mcpserver import MCPServerSpec, Rollout, RolloutRecord
from mcpops.kinds.mcpserver import desired, security
from mcpops.kinds.mcpserver.netcontext import NetworkContext
from mcpops.kinds.mcpserver.observed import Observed
from mcpops.kinds.mcpserver.references import Resolution
from mcpops.kinds.mcpserver.suites import SuiteEntry, SuiteVerdict
from mcpops.objects.bodies import Body, Manifest, PodTemplate, Revision
from mcpops.objects.effects import Delete, EventSpec
from mcpops.objects.timestamps import fmt_time


@dataclass(frozen=True)
class Inputs:
    """What one reconcile decides from; no step changes it."""

    server: Body
    spec: MCPServerSpec
    observed: Observed
    now: datetime
    image: str  # the operator image (test runner; the health sidecar of sse servers)
    template: PodTemplate  # the spec's pod template...
    revision: Revision  # ...and its hash
    # The ConfigMaps and Secrets the pods read: found (part of the revision) or missing.
    refs: Resolution = field(default_factory=lambda: Resolution([], [], None))
    # Where cluster DNS and the operator are (spec.network's policy needs them).
    network: NetworkContext = field(default_factory=NetworkContext)
    proxy_image: str = PROXY_IMAGE  # the in-pod proxy's, in the template

    @property
    def waiting(self) -> str:
        """Why the spec's revision cannot be made yet: a reference that does not exist."""
        return self.refs.waiting

    @property
    def name(self) -> str:
        return str(self.server["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.server["metadata"]["namespace"])

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.server["metadata"].get("annotations") or {})

    @property
    def cfg(self) -> Rollout:
        return self.spec.rollout or Rollout()

    @property
    def want(self) -> int:
        return self.spec.replicas

    @property
    def now_s(self) -> str:
        return fmt_time(self.now)

    @property
    def preview_name(self) -> str:
        return desired.preview_name(self.name)

    @property
    def preview_url(self) -> str:
        host = f"{self.preview_name}.{self.namespace}.svc:{self.spec.port}"
        return f"{security.scheme(self.spec)}://{host}{self.spec.path}"

    @property
    def url(self) -> str:
        host = f"{self.name}.{self.namespace}.svc:{self.spec.port}"
        return f"{security.scheme(self.spec)}://{host}{self.spec.path}"

    @property
    def keep_window(self) -> int:
        """How long the old revision stays up after a switch (to verify, for a fast undo)."""
        return max(self.cfg.verify_seconds, self.cfg.scale_down_delay_seconds)

    def deployment(self, revision: str | None) -> Body | None:
        return self.observed.deployments.get(revision) if revision else None


class RevisionEntry(TypedDict):
    """One entry of status.revisions (api.mcpserver.RevisionRecord on the wire)."""

    revision: str
    image: NotRequired[str]
    createdAt: NotRequired[str]
    promotedAt: NotRequired[str]
    outcome: NotRequired[str]
    phases: NotRequired[dict[str, str]]
    passedSuites: NotRequired[list[str]]


@dataclass
class History:
    """status.revisions, newest first: copies, edited as the rollout moves."""

    entries: list[RevisionEntry]

    @classmethod
    def load(cls, raw: Any) -> History:
        entries = [dict(r) for r in raw or [] if isinstance(r, dict) and r.get("revision")]
        return cls(entries)  # type: ignore[arg-type]

    def known(self, revision: str) -> bool:
        return any(r["revision"] == revision for r in self.entries)

    def add(self, revision: str, image: str, now: str) -> None:
        self.entries.insert(0, {"revision": revision, "image": image, "createdAt": now})

    def record(self, revision: str, outcome: str, promoted_at: str | None = None) -> None:
        for rec in self.entries:
            if rec["revision"] == revision:
                rec["outcome"] = outcome
                if promoted_at is not None:
                    rec["promotedAt"] = promoted_at

    def restart_timeline(self, revision: str) -> None:
        """A revision rolled out again gets a fresh timeline."""
        for rec in self.entries:
            if rec["revision"] == revision:
                rec.pop("phases", None)

    def revisions(self) -> list[str]:
        return [r["revision"] for r in self.entries]

    def keep_only(self, revisions: set[str]) -> None:
        self.entries = [r for r in self.entries if r["revision"] in revisions]


@dataclass
class State:
    """The rollout as this reconcile moves it: read from status, changed by the steps in
    rollout.STEPS, written back to status."""

    record: RolloutRecord  # status.rollout
    active: Revision | None  # status.activeRevision: what the stable Service serves
    failed: Revision | None  # status.failedRevision
    history: History  # status.revisions
    tests: list[SuiteEntry]  # status.tests
    candidate: Revision | None = None  # the revision being rolled out in this step
    phase: str = ""  # the candidate's: Progressing, Testing, Promoting or Paused
    paused: bool = False  # a person holds the rollout (mcpops.dev/paused)
    abort: bool = False  # a person asked, with a new value, to stop it (mcpops.dev/abort)
    started: datetime | None = None  # when the candidate's attempt started (pauses excluded)
    available: bool = False  # the candidate serves all replicas through the preview
    verdicts: dict[str, SuiteVerdict] = field(default_factory=dict)
    jobs: list[Manifest] = field(default_factory=list)  # test Jobs still to create
    # Continuous verification (verification.py): status.scheduledTests, and a kept revision
    # being scaled up to take traffic back after a scheduled suite failed (onFailure).
    scheduled: list[dict[str, Any]] = field(default_factory=list)
    restoring: Revision | None = None

    @property
    def failure(self) -> str:
        return self.record.failure_reason or ""

    @property
    def previous(self) -> Revision | None:
        """The revision that served before the last switch, while it is kept up."""
        return Revision(self.record.previous) if self.record.previous else None

    def fail(self, revision: Revision, reason: str) -> None:
        self.failed = revision
        self.record.failure_reason = reason or None

    def forget_switch(self) -> None:
        self.record.previous = None
        self.record.switched_at = None
        self.record.drain_started_at = None
        self.record.drain_sessions = None
        if self.record.analysis_result == "Running":  # the window ended unjudged
            self.record.analysis_result = None


@dataclass
class Plan:
    """What a reconcile hands the writer, and what the metrics learn from it."""

    apply: list[Manifest] = field(default_factory=list)
    # Written first, by the handover field manager: replicas an autoscaler takes over.
    handover: list[Manifest] = field(default_factory=list)
    delete: list[Delete] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[EventSpec] = field(default_factory=list)
    requeue_after: float | None = None
    skipped_writes: int = 0
    outcomes: list[str] = field(default_factory=list)  # rollout outcomes, for metrics
    # For metrics too: phases left (and how long they lasted), suite runs that finished.
    phase_durations: list[tuple[str, float]] = field(default_factory=list)
    test_results: list[str] = field(default_factory=list)
    scheduled_results: list[str] = field(default_factory=list)  # scheduled runs finished
    new_revision: bool = False  # the spec's pod template was seen for the first time
    wakeups: list[float] = field(default_factory=list)  # seconds until something is due
    drains: list[tuple[str, float]] = field(default_factory=list)  # (outcome, seconds waited)
    # rollout.analysis verdicts reached in this step: (revision, result, message).
    analyses: list[tuple[str, str, str]] = field(default_factory=list)

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append(EventSpec(type_, reason, message))
