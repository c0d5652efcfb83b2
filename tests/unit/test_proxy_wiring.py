"""What the operator reads of the in-pod proxies and tells of them: the proxies' addresses
per revision (from the Services' EndpointSlices), status.protocolVersion and its Event, the
session-key Secret, the proxy image setting, /mcpops/info parsing. Pure functions."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from test_mcpserver_plan import FakeCluster, server

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver.desired import revision_of, session_secret, session_secret_name
from mcpops.kinds.mcpserver.observed import proxy_endpoints
from mcpops.kinds.mcpserver.plan import plan
from mcpops.kinds.mcpserver.status import protocol_version
from mcpops.machinery.proxyinfo import ProxyInfo
from mcpops.settings import Settings
from mcpops_common.names import REVISION_LABEL

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def svc(revision: str) -> dict[str, Any]:
    return {"spec": {"selector": {REVISION_LABEL: revision}}}


def eps(service: str, port: int | None, *endpoints: tuple[str, bool]) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"kubernetes.io/service-name": service}},
        "ports": [{"name": "mcp", "port": port}] if port else [],
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ready}} for ip, ready in endpoints
        ],
    }


def test_proxy_endpoints_are_the_ready_pods_of_each_revision() -> None:
    services = {"s": svc("aaa"), "s-preview": svc("bbb"), "x": svc("none")}
    slices = {
        "s-1": eps("s", 8090, ("10.0.0.2", True), ("10.0.0.1", True), ("10.0.0.3", False)),
        "s-2": eps("s", 8090, ("10.0.0.2", True)),  # a second slice repeats an address
        "p-1": eps("s-preview", 8090, ("fd00::5", True)),
        "x-1": eps("x", 8090, ("10.0.0.9", True)),  # selects nothing: no revision
        "n-1": eps("s", None, ("10.0.0.8", True)),  # no "mcp" port: not a proxy
        "o-1": eps("other", 8090, ("10.0.0.7", True)),  # not this server's Service
    }
    assert proxy_endpoints(services, slices) == {
        "aaa": ["10.0.0.1:8090", "10.0.0.2:8090"],
        "bbb": ["[fd00::5]:8090"],
    }


def test_protocol_version_is_the_active_revisions() -> None:
    assert protocol_version({}, None, {"a": "2026-07-28"}) is None
    assert protocol_version({}, "a", {"a": "2026-07-28"}) == "2026-07-28"
    # Not asked yet (a restarted operator): the last status, if it was of the same revision.
    old = {"activeRevision": "a", "protocolVersion": "2025-11-25"}
    assert protocol_version(old, "a", {}) == "2025-11-25"
    assert protocol_version(old, "b", {}) is None
    assert protocol_version(old, "b", {"a": "2025-11-25"}) is None


@given(
    known=st.dictionaries(st.sampled_from("abc"), st.sampled_from(["2025-11-25", "2026-07-28"])),
    old_active=st.none() | st.sampled_from("abc"),
    old_version=st.none() | st.sampled_from(["2025-06-18", "2026-07-28"]),
    active=st.none() | st.sampled_from("abc"),
)
def test_protocol_version_never_names_another_revisions(
    known: dict[str, str], old_active: str | None, old_version: str | None, active: str | None
) -> None:
    old = {"activeRevision": old_active, "protocolVersion": old_version}
    got = protocol_version(old, active, known)
    if got is not None:
        assert active is not None
        assert got == known.get(active) or (active == old_active and got == old_version)
    if active in known:
        assert got == known[active]


def test_status_and_event_follow_what_the_proxies_say() -> None:
    cluster = FakeCluster()
    srv = server({"image": "img:1"})
    rev = revision_of("s", MCPServerSpec.model_validate(srv["spec"]))
    cluster.run(srv, T0)
    cluster.settle(f"s-{rev}", ready=True)
    cluster.run(srv, T0 + timedelta(seconds=1))
    assert "protocolVersion" not in srv["status"]  # not classified yet
    observed = cluster.observed()
    observed.protocols = {rev: "2026-07-28"}
    result = cluster.commit(srv, plan(srv, observed, T0 + timedelta(seconds=2)))
    assert result.status["protocolVersion"] == "2026-07-28"
    assert [(e.reason, e.message) for e in result.events] == [
        ("ProtocolVersion", f"revision {rev} speaks MCP 2026-07-28")
    ]
    # Known already: no new Event; kept while the proxies are not asked again.
    result = cluster.run(srv, T0 + timedelta(seconds=3))
    assert result.status["protocolVersion"] == "2026-07-28" and not result.events


def test_session_secret_is_owned_and_holds_the_key() -> None:
    parent = server({"image": "i"})
    secret = session_secret(parent, b"k" * 32)
    assert secret["kind"] == "Secret" and secret["type"] == "Opaque"
    assert secret["metadata"]["name"] == session_secret_name("s") == "s-mcpops-session"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert base64.b64decode(secret["data"]["key"]) == b"k" * 32


def test_proxy_image_setting() -> None:
    assert Settings.from_env({}).proxy_image.startswith("ghcr.io/mcpops/mcpops-proxy:")
    derived = Settings.from_env({"MCPOPS_IMAGE": "reg/x/mcpops:7"})
    assert derived.proxy_image == "reg/x/mcpops-proxy:7"
    named = Settings.from_env({"MCPOPS_IMAGE": "reg/x/mcpops:7", "MCPOPS_PROXY_IMAGE": "p:1"})
    assert named.proxy_image == "p:1"


def test_proxy_info_parsing_is_lenient_and_safe() -> None:
    body = {"protocolVersion": "2025-11-25", "sessions": 3, "revision": "r", "ready": True}
    assert ProxyInfo.parse(body) == ProxyInfo("2025-11-25", 3, "r", False, True)
    assert ProxyInfo.parse({"sessions": -1, "draining": "yes"}) == ProxyInfo(
        "", 0, "", False, False
    )
    assert ProxyInfo.parse([1, 2]) is None
