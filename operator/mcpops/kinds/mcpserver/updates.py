"""The update manager's decisions (spec.updates), pure: no lookups here.

Versions found by a lookup (machinery.registries) come in; out come the newest version the
policy allows, whether to roll it now (held, refused before, outside the window), and the
spec with that version pinned (an exact tag plus digest, or an exact package version), so
that the revision hash, and with it the normal tested blue-green rollout, follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, cast

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.api.updates import (
    HOLD_ANNOTATION,
    PIN_ANNOTATION,
    Updates,
    UpdatesStatus,
    UpdateWindow,
)
from mcpops.kinds.mcpserver.state import Plan
from mcpops.objects import schedule
from mcpops.objects.timestamps import fmt_time

# ------------------------------------------------------------------ semantic versions

_VERSION = re.compile(
    r"^[vV]?(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?"
    # semver pre-release (-rc.1), or PEP 440's (rc1, a2, b3, dev4), then build metadata
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)|[.]?((?:a|b|c|rc|alpha|beta|pre|dev)\.?\d*))?"
    r"(?:\+[0-9A-Za-z.-]+)?$"
)

PreKey = tuple[tuple[int, int, str], ...]


@dataclass(frozen=True, order=True)
class Version:
    """A version as semver orders it: a release sorts after its pre-releases."""

    major: int
    minor: int
    patch: int
    # (0, identifiers) for a pre-release, (1, ()) for a release
    pre: tuple[int, PreKey] = (1, ())

    @property
    def prerelease(self) -> bool:
        return self.pre[0] == 0


def _pre_key(text: str) -> PreKey:
    # Numeric identifiers sort numerically and before alphanumeric ones (semver 11.4).
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"[.]", text)
        if part
    )


def parse_version(text: str) -> Version | None:
    """The version a tag or release names (v1.4, 1.4.2, 1.5.0-rc.1, 2.0rc1), else None."""
    m = _VERSION.match(text.strip())
    if m is None:
        return None
    major, minor, patch, pre, pep_pre = m.groups()
    pre_text = pre or pep_pre
    return Version(
        int(major),
        int(minor or 0),
        int(patch or 0),
        (0, _pre_key(pre_text)) if pre_text else (1, ()),
    )


# ------------------------------------------------------------------ ranges

Op = Literal[">=", ">", "<", "<=", "="]
Comparator = tuple[Op, Version]
_TOKEN = re.compile(
    r"^(>=|<=|>|<|=|\^|~)?\s*[vV]?([0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:-[0-9A-Za-z.-]+)?)$"
)


def _floor(parts: list[int]) -> Version:
    full = [*parts, 0, 0, 0]
    return Version(full[0], full[1], full[2])


def _bump(parts: list[int]) -> Version:
    """The first version past every version starting with `parts` (1.4 -> 1.5.0)."""
    head = [*parts[:-1], parts[-1] + 1]
    return _floor(head)


def _partial(text: str) -> tuple[list[int], Version | None]:
    """The numeric parts given before any wildcard, and the exact version when complete."""
    core = text.split("-", 1)[0]
    parts: list[int] = []
    for piece in core.split("."):
        if piece in {"x", "X", "*"}:
            break
        parts.append(int(piece))
    exact = parse_version(text) if len(parts) == 3 else None
    return parts, exact


def _caret(parts: list[int], exact: Version | None) -> list[Comparator]:
    low = exact or _floor(parts)
    # the first non-zero part given is the one that may not change
    keep = next((i for i, p in enumerate(parts) if p != 0), len(parts) - 1)
    return [(">=", low), ("<", _bump(parts[: keep + 1]))]


def _comparators(token: str) -> list[Comparator]:
    m = _TOKEN.match(token)
    if m is None:
        raise ValueError(f"{token!r} is not a version comparator (e.g. >=1.4, <2, ^1.2, 1.x)")
    op, text = m.group(1) or "", m.group(2)
    parts, exact = _partial(text)
    if not parts:
        return [] if op in {"", "=", ">=", "<=", "^", "~"} else [("<", Version(0, 0, 0))]
    if op == "^":
        return _caret(parts, exact)
    if op == "~":
        # ~1.2.3 and ~1.2 allow patches, ~1 minors
        return [(">=", exact or _floor(parts)), ("<", _bump(parts[:2]))]
    if exact is not None:
        return [(cast(Op, op or "="), exact)]
    # a partial version: 1.4 stands for every 1.4.x
    every: dict[str, list[Comparator]] = {
        "": [(">=", _floor(parts)), ("<", _bump(parts))],
        "=": [(">=", _floor(parts)), ("<", _bump(parts))],
        ">=": [(">=", _floor(parts))],
        ">": [(">=", _bump(parts))],
        "<": [("<", _floor(parts))],
        "<=": [("<", _bump(parts))],
    }
    return every[op]


@dataclass(frozen=True)
class Range:
    """Alternatives ('||'), each a set of comparators that must all hold."""

    alternatives: tuple[tuple[Comparator, ...], ...]

    def allows(self, v: Version) -> bool:
        return any(all(_holds(c, v) for c in alt) for alt in self.alternatives)


def _holds(c: Comparator, v: Version) -> bool:
    op, bound = c
    return {
        ">=": v >= bound,
        ">": v > bound,
        "<": v < bound,
        "<=": v <= bound,
        "=": v == bound,
    }[op]


def parse_range(text: str) -> Range:
    """A semver range: '>=1.4 <2', '^1.4', '~1.4.2', '1.x', '1.2.3', '*', joined by '||'.

    Raises ValueError naming the part it cannot read.
    """
    alternatives = []
    for alt in text.split("||"):
        # '>= 1.4' and '>=1.4' are the same comparator
        tokens = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", alt.strip()).split()
        comps: list[Comparator] = []
        for token in tokens:
            comps.extend(_comparators(token))
        alternatives.append(tuple(comps))
    return Range(tuple(alternatives))


def check(policy: Updates) -> str | None:
    """Why the policy cannot be followed (a field and a fix), or None."""
    if policy.versions is not None:
        try:
            parse_range(policy.versions)
        except ValueError as exc:
            return f"spec.updates.versions: {exc}"
    if policy.tag_pattern is not None:
        try:
            re.compile(policy.tag_pattern)
        except re.error as exc:
            return f"spec.updates.tagPattern is not a regular expression: {exc}"
    if policy.window is not None:
        why = schedule.check(policy.window.schedule) or schedule.check_zone(policy.window.time_zone)
        if why:
            return f"spec.updates.window: {why}"
    return None


def newest(found: list[str], policy: Updates) -> str | None:
    """The newest version the policy allows among `found` (tags or package versions)."""
    allowed = parse_range(policy.versions) if policy.versions else None
    pattern = re.compile(policy.tag_pattern) if policy.tag_pattern else None
    best: tuple[Version, str] | None = None
    plain: list[str] = []
    for name in found:
        if pattern is not None and not pattern.fullmatch(name):
            continue
        v = parse_version(name)
        if v is None:
            if pattern is not None:
                plain.append(name)  # a matching tag that is not a version: order by name
            continue
        # a pattern chooses the tag family itself (1.6.0-alpine is not a pre-release then)
        if v.prerelease and not policy.allow_prerelease and pattern is None:
            continue
        if allowed is not None and not allowed.allows(v):
            continue
        # of equal versions (1.4 and v1.4.0), the longest name is the most precise
        if best is None or (v, len(name)) > (best[0], len(best[1])):
            best = (v, name)
    if best is not None:
        return best[1]
    return max(plain) if plain else None


# ------------------------------------------------------------------ what a spec runs

REGISTRY_DEFAULT = "registry-1.docker.io"


@dataclass(frozen=True)
class ImageRef:
    registry: str  # host[:port]
    repository: str  # path in the registry, e.g. library/nginx
    tag: str | None
    digest: str | None

    @property
    def key(self) -> str:
        return f"{self.registry}/{self.repository}"

    def pinned(self, tag: str, digest: str | None) -> str:
        """The exact reference for a tag and its digest, as the kubelet pulls it."""
        host = "" if self.registry == REGISTRY_DEFAULT else f"{self.registry}/"
        name = self.repository
        if not host and name.startswith("library/"):
            name = name.removeprefix("library/")
        return f"{host}{name}:{tag}" + (f"@{digest}" if digest else "")


def parse_image(image: str) -> ImageRef:
    """registry, repository, tag and digest of an image reference, with Docker's defaults."""
    rest, _, digest = image.partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = REGISTRY_DEFAULT, rest
        if "/" not in path:
            path = f"library/{path}"
    name, colon, tag = path.rpartition(":")
    if not colon or "/" in tag:
        name, tag = path, ""
    return ImageRef(registry, name, tag or None, digest or None)


LAUNCHERS = {"pypi": ("uvx",), "npm": ("npx",)}
# launcher options whose value is the package to run (uvx --from pkg==1 cmd, npx -p pkg cmd)
PACKAGE_OPTIONS = {"--from", "-p", "--package"}
_WITH_VALUE = {"--python", "--with", "--index-url", "--registry", "-c", "--call", "--cache"}


@dataclass(frozen=True)
class PackageRef:
    index: int  # position in command + args
    name: str
    version: str | None
    separator: str  # '@' or '=='

    def pinned(self, version: str) -> str:
        return f"{self.name}{self.separator}{version}"


def _split_package(token: str, source: str) -> tuple[str, str | None, str]:
    if source == "pypi" and "==" in token:
        name, _, version = token.partition("==")
        return name, version or None, "=="
    at = token.rfind("@")
    if at > 0:  # @scope/name has its first '@' at 0
        return token[:at], token[at + 1 :] or None, "@"
    return token, None, "@" if source == "npm" else "=="


def find_package(argv: list[str], source: str) -> PackageRef | None:
    """The package `uvx` (pypi) or `npx` (npm) launches in argv, with the version given."""
    launchers = LAUNCHERS.get(source, ())
    start = next((i for i, a in enumerate(argv) if a.rsplit("/", 1)[-1] in launchers), None)
    if start is None:
        return None
    i = start + 1
    while i < len(argv):
        arg = argv[i]
        if arg in PACKAGE_OPTIONS and i + 1 < len(argv):
            return PackageRef(i + 1, *_split_package(argv[i + 1], source))
        if arg.startswith("-"):
            i += 2 if arg in _WITH_VALUE else 1
            continue
        return PackageRef(i, *_split_package(arg, source))
    return None


def argv_of(spec: MCPServerSpec) -> list[str]:
    return [*(spec.command or []), *(spec.args or [])]


def subject(spec: MCPServerSpec, policy: Updates) -> str | None:
    """What a lookup asks about: 'image:<registry>/<repo>', 'pypi:<name>', 'npm:<name>'."""
    if policy.source == "image":
        return f"image:{parse_image(spec.image).key}"
    ref = find_package(argv_of(spec), policy.source)
    return f"{policy.source}:{ref.name}" if ref else None


def spec_version(spec: MCPServerSpec, policy: Updates) -> str | None:
    """The version the spec itself names (before any update)."""
    if policy.source == "image":
        ref = parse_image(spec.image)
        return ref.digest if policy.follow_tag else ref.tag
    pkg = find_package(argv_of(spec), policy.source)
    return pkg.version if pkg else None


def pin(spec: MCPServerSpec, policy: Updates, version: str, digest: str | None) -> MCPServerSpec:
    """The spec with `version` pinned: what the pod template, and so the revision, carries."""
    if policy.source == "image":
        ref = parse_image(spec.image)
        tag = policy.follow_tag or version
        return spec.model_copy(update={"image": ref.pinned(tag, digest)})
    argv = argv_of(spec)
    pkg = find_package(argv, policy.source)
    if pkg is None:
        return spec
    argv[pkg.index] = pkg.pinned(version)
    n = len(spec.command or [])
    update: dict[str, list[str]] = {}
    if pkg.index < n:
        update["command"] = argv[:n]
    else:
        update["args"] = argv[n:]
    return spec.model_copy(update=update)


# ------------------------------------------------------------------ whether to roll


def window_open(window: UpdateWindow, now: datetime) -> tuple[bool, datetime]:
    """Whether the maintenance window is open at `now`, and when it next opens."""
    tz = schedule.zone(window.time_zone)
    span = timedelta(minutes=window.duration_minutes)
    opened = schedule.latest_due(window.schedule, now - span, now, tz)
    return opened is not None, schedule.next_after(window.schedule, now, tz)


@dataclass
class Found:
    """What the last lookup of a source found (from machinery.registries)."""

    versions: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # tag -> manifest digest
    checked_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    target: str | None  # the version the desired template pins (None: the spec's own)
    digest: str | None
    latest: str | None
    latest_digest: str | None
    reason: str
    message: str


def _latest(found: Found, policy: Updates) -> tuple[str | None, str | None]:
    if policy.follow_tag:
        digest = found.digests.get(policy.follow_tag)
        return digest, digest
    latest = newest(found.versions, policy)
    return latest, found.digests.get(latest) if latest else None


def decide(
    policy: Updates,
    old: UpdatesStatus,
    found: Found,
    now: datetime,
    *,
    held: bool = False,
    pinned: str | None = None,
) -> Decision:
    """Which version to run, and why the newest allowed is (not) rolled out.

    `old.current` is what runs (pinned earlier); a version in `old.refused` failed its
    rollout and is never tried again automatically (a newer one may be); a person's pin
    (annotation) wins over everything, refused versions included: that is pinning back.
    """
    latest, latest_digest = _latest(found, policy)
    current, current_digest = old.current, old.current_digest

    def keep(reason: str, message: str) -> Decision:
        return Decision(current, current_digest, latest, latest_digest, reason, message)

    if pinned:
        digest = found.digests.get(pinned) if policy.source == "image" else None
        return Decision(
            pinned,
            digest,
            latest,
            latest_digest,
            "Pinned",
            f"pinned to {pinned} by the annotation mcpops.dev/pin-version",
        )
    if latest is None:
        why = found.error or "no version the policy allows was found"
        return keep("NoVersion", why)
    if latest == (current_digest if policy.follow_tag else current):
        return keep("UpToDate", f"{_short(latest)} is the newest allowed version")
    if latest in (old.refused or []):
        return keep(
            "Refused",
            f"{_short(latest)} failed its rollout before; it is not "
            "retried automatically (a newer version will be tried)",
        )
    if held:
        return keep(
            "Held", f"{_short(latest)} is available; updates are held (kubectl mcpops resume)"
        )
    if policy.window is not None:
        is_open, next_open = window_open(policy.window, now)
        if not is_open:
            return keep(
                "OutsideWindow",
                f"{_short(latest)} is available; the maintenance "
                f"window opens at {fmt_time(next_open)}",
            )
    version = policy.follow_tag if policy.follow_tag else latest
    return Decision(
        version, latest_digest, latest, latest_digest, "Rolling", f"rolling out {_short(latest)}"
    )


def _short(version: str) -> str:
    return version[:19] if version.startswith("sha256:") else version


def after_rollout(
    old: UpdatesStatus, decision: Decision, *, promoted: bool, failed: bool
) -> UpdatesStatus:
    """The status once the rollout of the decided version has promoted or failed."""
    new = old.model_copy(deep=True)
    new.latest_seen, new.latest_digest = decision.latest, decision.latest_digest
    new.reason, new.message = decision.reason, decision.message
    if decision.target is None:
        return new
    if promoted:
        new.current, new.current_digest = decision.target, decision.digest
        if decision.reason == "Rolling":
            new.reason, new.message = "UpToDate", f"{_short(decision.latest or '')} is serving"
    elif failed and decision.reason == "Rolling":
        refused = decision.latest or ""
        new.refused = [*(new.refused or []), refused][-64:]
        new.reason = "Refused"
        new.message = f"{_short(refused)} failed its rollout; it stays refused"
    return new


# ------------------------------------------------------------------ one reconcile

# The Event posted when status.updates.reason becomes this value.
EVENTS = {
    "Rolling": ("Normal", "UpdateStarted"),
    "Refused": ("Warning", "UpdateRefused"),
    "Held": ("Normal", "UpdateHeld"),
    "OutsideWindow": ("Normal", "UpdateWaiting"),
    "Pinned": ("Normal", "UpdatePinned"),
    "InvalidPolicy": ("Warning", "UpdateInvalid"),
    "NoVersion": ("Warning", "UpdateNotFound"),
}


@dataclass(frozen=True)
class Step:
    """spec.updates in one reconcile: the policy, the status before, the decision."""

    policy: Updates
    old: UpdatesStatus
    decision: Decision
    found: Found | None


def load_status(raw: object) -> UpdatesStatus:
    """status.updates as stored; what cannot be read is started afresh, never an error."""
    try:
        return UpdatesStatus.model_validate(raw if isinstance(raw, dict) else {})
    except ValueError:
        return UpdatesStatus()


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in {"", "false", "0", "no"}


def prepare(
    server: dict[str, object], spec: MCPServerSpec, found: Found | None, now: datetime
) -> tuple[MCPServerSpec, Step | None]:
    """The spec with the decided version pinned (what the pod template is made from)."""
    policy = spec.updates
    if policy is None:
        return spec, None
    status = server.get("status")
    old = load_status(status.get("updates") if isinstance(status, dict) else None)
    held, pinned = person(server)
    why = check(policy)
    if why is not None:
        keep = Decision(old.current, old.current_digest, None, None, "InvalidPolicy", why)
    elif found is None:  # not looked up yet: stay where we are
        keep = Decision(
            old.current,
            old.current_digest,
            old.latest_seen,
            old.latest_digest,
            old.reason or "NotChecked",
            old.message or "the source was not asked yet",
        )
    else:
        keep = decide(
            policy,
            old,
            found,
            now,
            held=held,
            pinned=pinned,
        )
    step = Step(policy, old, keep, found)
    if keep.target is None:
        return spec, step
    return pin(spec, policy, keep.target, keep.digest), step


def record(
    step: Step, status: dict[str, object], revision: str, now: datetime
) -> tuple[UpdatesStatus, list[tuple[str, str, str]], float | None]:
    """status.updates after this reconcile's rollout steps, the Events to post, and when to
    look again (the next check, or the window's opening)."""
    d = step.decision
    active = status.get("activeRevision") == revision
    failed = status.get("failedRevision") == revision and not active
    new = after_rollout(step.old, d, promoted=active, failed=failed)
    if step.found is not None:
        if step.found.checked_at is not None:
            new.last_check = fmt_time(step.found.checked_at)
        new.last_error = step.found.error
    events: list[tuple[str, str, str]] = []
    if (
        new.latest_seen
        and new.latest_seen != step.old.latest_seen
        and (new.latest_seen not in {new.current, new.current_digest})
    ):
        events.append(("Normal", "UpdateFound", f"{_short(new.latest_seen)} is available"))
    if new.reason != step.old.reason or new.current != step.old.current:
        if new.reason == "UpToDate" and new.current != step.old.current:
            events.append(("Normal", "UpdatePromoted", f"{new.current} serves ({new.message})"))
        elif new.reason in EVENTS:
            type_, reason = EVENTS[new.reason]
            events.append((type_, reason, new.message or ""))
    return new, events, _next_look(step, now)


def _next_look(step: Step, now: datetime) -> float | None:
    waits: list[float] = []
    if step.found is not None and step.found.checked_at is not None:
        due = step.found.checked_at + timedelta(seconds=step.policy.check_interval_seconds)
        waits.append(max(1.0, (due - now).total_seconds()))
    if step.decision.reason == "OutsideWindow" and step.policy.window is not None:
        _, opens = window_open(step.policy.window, now)
        waits.append(max(1.0, (opens - now).total_seconds()))
    return min(waits) if waits else None


def finish(step: Step, out: Plan, revision: str, now: datetime) -> None:
    """Write status.updates into the plan's status, with its Events and wake-up."""
    new, events, wake = record(step, out.status, revision, now)
    out.status["updates"] = new.to_wire()
    for type_, reason, message in events:
        out.event(type_, reason, message)
    if wake is not None:
        out.wakeups.append(wake)
        out.requeue_after = max(1.0, min(out.wakeups))


# ------------------------------------------------------------------ what to ask


@dataclass(frozen=True)
class Query:
    """One lookup: the source, the name it knows the server by, the index to ask."""

    source: str
    name: str  # registry/repository, or the package
    index: str | None
    list_tags: bool  # False when following a tag: only its digest matters
    registry_host: str | None  # for credentials (source image)


def query(spec: MCPServerSpec, policy: Updates) -> Query | None:
    """What to look up for this spec, or None when it names nothing to follow."""
    if policy.source == "image":
        ref = parse_image(spec.image)
        return Query("image", ref.key, None, policy.follow_tag is None, ref.registry)
    pkg = find_package(argv_of(spec), policy.source)
    if pkg is None:
        return None
    return Query(policy.source, pkg.name, policy.registry, True, None)


def wanted_tags(found: Found, policy: Updates, pinned: str | None) -> tuple[str, ...]:
    """The tags whose digest the decision needs: the newest allowed, a pin, a followed tag."""
    if policy.source != "image":
        return ()
    tags = {policy.follow_tag or newest(found.versions, policy), pinned}
    return tuple(sorted(t for t in tags if t))


def person(server: dict[str, object]) -> tuple[bool, str | None]:
    """Whether a person holds updates, and the version they pinned (annotations)."""
    meta = server.get("metadata")
    ann: dict[str, str] = (meta.get("annotations") or {}) if isinstance(meta, dict) else {}
    return _flag(ann.get(HOLD_ANNOTATION)), (ann.get(PIN_ANNOTATION) or "").strip() or None
