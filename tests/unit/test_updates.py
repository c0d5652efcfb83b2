"""The update manager's pure decisions: versions, ranges, what a spec runs, whether to roll."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.api.updates import Updates, UpdatesStatus, UpdateWindow
from mcpops.kinds.mcpserver import desired
from mcpops.kinds.mcpserver import updates as up

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

versions = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-rc.{pre}" if pre is not None else ""),
    st.integers(0, 30),
    st.integers(0, 30),
    st.integers(0, 30),
    st.none() | st.integers(0, 5),
)


def v(text: str) -> up.Version:
    parsed = up.parse_version(text)
    assert parsed is not None, text
    return parsed


def test_versions_order_as_semver_says() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.2",
        "v1.10.0",
        "2.0rc1",
        "2.0.0",
    ]
    assert sorted(ordered, key=v) == ordered
    assert up.parse_version("latest") is None
    assert up.parse_version("1.2.3.4.5") is None
    assert v("1.4") == v("v1.4.0")


@pytest.mark.parametrize(
    ("rng", "inside", "outside"),
    [
        (">=1.4 <2", ["1.4.0", "1.9.9", "1.4"], ["1.3.9", "2.0.0", "2.1"]),
        ("^1.4", ["1.4.0", "1.99.0"], ["1.3.0", "2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
        ("~1.4.2", ["1.4.2", "1.4.9"], ["1.5.0", "1.4.1"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("1.x", ["1.0.0", "1.5.5"], ["2.0.0", "0.9.0"]),
        ("1.4", ["1.4.0", "1.4.7"], ["1.5.0"]),
        ("<=1.4", ["1.4.9"], ["1.5.0"]),
        (">1.4", ["1.5.0"], ["1.4.9"]),
        ("1.2.3 || >=3", ["1.2.3", "3.1.0"], ["1.2.4", "2.0.0"]),
        (">= 1.4 < 2", ["1.5.0"], ["2.0.0"]),
        ("*", ["0.0.1", "9.9.9"], []),
    ],
)
def test_ranges(rng: str, inside: list[str], outside: list[str]) -> None:
    r = up.parse_range(rng)
    assert all(r.allows(v(x)) for x in inside)
    assert not any(r.allows(v(x)) for x in outside)


def test_a_range_that_cannot_be_read_is_named() -> None:
    with pytest.raises(ValueError, match="'>=one'"):
        up.parse_range(">=one")
    assert "spec.updates.versions" in (up.check(Updates(versions="~>1")) or "")
    assert "tagPattern" in (up.check(Updates(tag_pattern="(")) or "")
    assert "window" in (up.check(Updates(window=UpdateWindow(schedule="61 * * * *"))) or "")
    assert up.check(Updates(versions=">=1.4 <2")) is None


@given(st.lists(versions, max_size=20), versions, versions)
def test_newest_is_the_greatest_allowed(found: list[str], low: str, high: str) -> None:
    rng = f">={low} <{high}"
    policy = Updates(versions=rng)
    pick = up.newest(found, policy)
    allowed = [x for x in found if not v(x).prerelease and up.parse_range(rng).allows(v(x))]
    if not allowed:
        assert pick is None
    else:
        assert pick is not None
        assert v(pick) == max(v(x) for x in allowed)


@given(st.lists(versions, min_size=1, max_size=20))
def test_prereleases_only_when_allowed(found: list[str]) -> None:
    pick = up.newest(found, Updates())
    assert pick is None or not v(pick).prerelease
    pick_pre = up.newest(found, Updates(allow_prerelease=True))
    assert pick_pre is not None and v(pick_pre) == max(map(v, found))


def test_tag_pattern_filters_tags() -> None:
    tags = ["1.4.0", "1.5.0-alpine", "1.5.0", "latest", "1.6.0-alpine"]
    assert up.newest(tags, Updates(tag_pattern=r".*-alpine")) == "1.6.0-alpine"
    assert up.newest(tags, Updates(tag_pattern=r"\d+\.\d+\.\d+")) == "1.5.0"
    assert up.newest(["nightly-2", "nightly-10"], Updates(tag_pattern="nightly-.*")) == "nightly-2"


@pytest.mark.parametrize(
    ("image", "registry", "repo", "tag", "digest"),
    [
        ("nginx", "registry-1.docker.io", "library/nginx", None, None),
        ("org/srv:1.2", "registry-1.docker.io", "org/srv", "1.2", None),
        ("127.0.0.1:5000/a/b:1.0@sha256:ab", "127.0.0.1:5000", "a/b", "1.0", "sha256:ab"),
        ("localhost/x", "localhost", "x", None, None),
        ("ghcr.io/o/s@sha256:cd", "ghcr.io", "o/s", None, "sha256:cd"),
    ],
)
def test_image_references(
    image: str, registry: str, repo: str, tag: str | None, digest: str | None
) -> None:
    ref = up.parse_image(image)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)


def test_pinning_an_image_changes_the_revision_not_the_rest() -> None:
    spec = MCPServerSpec(image="127.0.0.1:5000/mcp/time:1.4.0", updates=Updates())
    pinned = up.pin(spec, Updates(), "1.5.0", "sha256:" + "a" * 64)
    assert pinned.image == "127.0.0.1:5000/mcp/time:1.5.0@sha256:" + "a" * 64
    assert desired.revision_of("s", pinned) != desired.revision_of("s", spec)
    assert up.pin(MCPServerSpec(image="nginx:1"), Updates(), "2", None).image == "nginx:2"
    follow = Updates(follow_tag="latest")
    assert up.pin(MCPServerSpec(image="org/s:latest"), follow, "latest", "sha256:b").image == (
        "org/s:latest@sha256:b"
    )


@pytest.mark.parametrize(
    ("argv", "source", "name", "version"),
    [
        (["uvx", "mcp-server-time@2025.1.1"], "pypi", "mcp-server-time", "2025.1.1"),
        (["uvx", "--python", "3.12", "mcp-server-time==1.0"], "pypi", "mcp-server-time", "1.0"),
        (["uvx", "--from", "pkg==1.0", "run-it"], "pypi", "pkg", "1.0"),
        (
            ["npx", "-y", "@modelcontextprotocol/server-everything@2025.1.1"],
            "npm",
            "@modelcontextprotocol/server-everything",
            "2025.1.1",
        ),
        (["/usr/bin/npx", "-y", "some-server"], "npm", "some-server", None),
    ],
)
def test_packages_in_the_command(
    argv: list[str], source: str, name: str, version: str | None
) -> None:
    ref = up.find_package(argv, source)
    assert ref is not None and (ref.name, ref.version) == (name, version)
    assert up.find_package(argv, "npm" if source == "pypi" else "pypi") is None


def test_pinning_a_package_rewrites_its_argument() -> None:
    spec = MCPServerSpec(
        image="node:22", transport="stdio", command=["npx"], args=["-y", "srv@1.0.0", "--x"]
    )
    pol = Updates(source="npm")
    pinned = up.pin(spec, pol, "1.1.0", None)
    assert pinned.args == ["-y", "srv@1.1.0", "--x"] and pinned.command == ["npx"]
    assert up.subject(spec, pol) == "npm:srv"
    assert up.spec_version(spec, pol) == "1.0.0"
    spec2 = MCPServerSpec(image="py", transport="stdio", command=["uvx", "srv==1"])
    assert up.pin(spec2, Updates(source="pypi"), "2", None).command == ["uvx", "srv==2"]


def test_window() -> None:
    w = UpdateWindow(schedule="0 2 * * *", time_zone="Europe/Berlin", duration_minutes=120)
    assert up.window_open(w, datetime(2026, 12, 7, 1, 30, tzinfo=UTC))[0]  # 02:30 Berlin
    is_open, nxt = up.window_open(w, NOW)
    assert not is_open and nxt == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


FOUND = up.Found(["1.4.0", "1.5.0", "2.0.0"], {"1.5.0": "sha256:15", "1.4.0": "sha256:14"})
POLICY = Updates(versions=">=1.4 <2")


def test_decide_rolls_the_newest_allowed() -> None:
    d = up.decide(POLICY, UpdatesStatus(current="1.4.0"), FOUND, NOW)
    assert (d.target, d.digest, d.reason) == ("1.5.0", "sha256:15", "Rolling")


@pytest.mark.parametrize(
    ("old", "kwargs", "reason"),
    [
        (UpdatesStatus(current="1.5.0", current_digest="sha256:15"), {}, "UpToDate"),
        (UpdatesStatus(current="1.4.0", refused=["1.5.0"]), {}, "Refused"),
        (UpdatesStatus(current="1.4.0"), {"held": True}, "Held"),
    ],
)
def test_decide_keeps_what_runs(old: UpdatesStatus, kwargs: dict[str, bool], reason: str) -> None:
    d = up.decide(POLICY, old, FOUND, NOW, held=kwargs.get("held", False))
    assert (d.target, d.reason, d.latest) == (old.current, reason, "1.5.0")


def test_outside_the_window_waits_and_says_until_when() -> None:
    pol = Updates(versions=">=1.4 <2", window=UpdateWindow(schedule="0 2 * * *"))
    d = up.decide(pol, UpdatesStatus(current="1.4.0"), FOUND, NOW)
    assert d.reason == "OutsideWindow" and "2026-12-08T02:00:00Z" in d.message


def test_a_pin_wins_even_over_a_refusal() -> None:
    old = UpdatesStatus(current="1.5.0", refused=["1.4.0"])
    d = up.decide(POLICY, old, FOUND, NOW, pinned="1.4.0")
    assert (d.target, d.digest, d.reason) == ("1.4.0", "sha256:14", "Pinned")


def test_a_failed_version_is_remembered_and_a_newer_one_tried() -> None:
    old = UpdatesStatus(current="1.4.0", current_digest="sha256:14")
    d = up.decide(POLICY, old, FOUND, NOW)
    after = up.after_rollout(old, d, promoted=False, failed=True)
    assert after.refused == ["1.5.0"] and after.current == "1.4.0"
    again = up.decide(POLICY, after, FOUND, NOW)
    assert again.reason == "Refused" and again.target == "1.4.0"
    newer = up.Found([*FOUND.versions, "1.6.0"], FOUND.digests)
    assert up.decide(POLICY, after, newer, NOW).target == "1.6.0"
    ok = up.after_rollout(after, up.decide(POLICY, after, newer, NOW), promoted=True, failed=False)
    assert (ok.current, ok.reason) == ("1.6.0", "UpToDate")


def test_follow_tag_rolls_on_a_new_digest() -> None:
    pol = Updates(follow_tag="latest")
    found = up.Found(["latest"], {"latest": "sha256:new"})
    d = up.decide(pol, UpdatesStatus(current="latest", current_digest="sha256:old"), found, NOW)
    assert (d.target, d.digest, d.reason) == ("latest", "sha256:new", "Rolling")
    same = UpdatesStatus(current="latest", current_digest="sha256:new")
    assert up.decide(pol, same, found, NOW).reason == "UpToDate"


def test_kubectl_hold_resume_pin_unpin_patches() -> None:
    from mcpops.api.updates import HOLD_ANNOTATION, PIN_ANNOTATION
    from mcpops.kubectl.cli import PluginError, parser, updates_patch

    srv = {
        "metadata": {"name": "s"},
        "spec": {"image": "x:1", "updates": {}},
        "status": {"updates": {"current": "1.4.0"}},
    }
    body, note = updates_patch("hold", srv, None)
    assert body == {"metadata": {"annotations": {HOLD_ANNOTATION: "true"}}} and "1.4.0" in note
    assert updates_patch("resume", srv, None)[0] == {
        "metadata": {"annotations": {HOLD_ANNOTATION: None}}
    }
    assert updates_patch("pin", srv, "1.3.0")[0] == {
        "metadata": {"annotations": {PIN_ANNOTATION: "1.3.0"}}
    }
    assert updates_patch("unpin", srv, None)[0] == {
        "metadata": {"annotations": {PIN_ANNOTATION: None}}
    }
    with pytest.raises(PluginError, match=r"no spec\.updates"):
        updates_patch("hold", {"metadata": {"name": "s"}, "spec": {}}, None)
    assert parser().parse_args(["pin", "s", "1.3.0"]).version == "1.3.0"
    # the annotations the plan reads are the ones the plugin writes
    assert up.person({"metadata": {"annotations": {HOLD_ANNOTATION: "true"}}}) == (True, None)
    assert up.person({"metadata": {"annotations": {PIN_ANNOTATION: "1.3.0"}}}) == (False, "1.3.0")


@given(
    st.lists(versions, max_size=12),
    st.lists(versions, max_size=4),
    st.none() | versions,
    st.booleans(),
)
def test_decide_never_rolls_a_refused_version_or_while_held(
    found: list[str], refused: list[str], current: str | None, held: bool
) -> None:
    old = UpdatesStatus(current=current, refused=refused or None)
    d = up.decide(Updates(), old, up.Found(found), NOW, held=held)
    assert d.target in {current, d.latest}
    if d.target != current:
        assert d.reason == "Rolling" and d.target not in refused and not held
        assert d.latest == up.newest(found, Updates())
