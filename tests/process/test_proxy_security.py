"""mcpops-proxy with a security file, in front of a real MCP server, with a real issuer.

The issuer (tests/process/securitykit.py) serves discovery and its JWKS on loopback; the
server (tests/servers/era_server.py --record) writes down every request it receives, so
"refused at the proxy" is checked against what the server actually saw. The hostile
corpus is tests/fixtures/hostile-requests/cases.yaml.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from process.proxykit import ACCEPT, INIT, Proc, answer, era_server, proxy
from process.securitykit import AUDIENCE, Issuer, b64, hs256, issuer, unsigned
from toolpaths import REPO

pytestmark = [pytest.mark.process, pytest.mark.timeout(180)]

CASES = yaml.safe_load((REPO / "tests/fixtures/hostile-requests/cases.yaml").read_text())
SA = "system:serviceaccount:team-a:agent"
ONCALL = (
    'has(claims.groups) && claims.groups.exists(g, g == "sre")'
    ' && tool.startsWith("pro") && argumentsBytes <= 64'
)


def settings(iss: Issuer) -> dict[str, Any]:
    return {
        "auth": {"issuers": [{"issuer": iss.url, "audiences": [AUDIENCE]}]},
        "tools": {
            "allow": ["echo", "whoami", "progress", "slow"],
            "deny": ["slow"],
            "overrides": {"whoami": {"name": "who_am_i", "description": "Which replica answered."}},
            "rules": [
                {"name": "agents", "match": {"serviceAccounts": ["team-a/*"]}, "allow": ["*"]},
                # CEL: members of sre may call pro* tools with small arguments. has() guards
                # the claim's absence (a missing key is an evaluation error, which refuses).
                {"name": "oncall", "when": ONCALL},
                {"name": "users", "match": {"groups": ["mcp-users"]}, "allow": ["echo", "whoami"]},
            ],
        },
        "rateLimits": {"perTool": {"progress": {"perSecond": 1, "burst": 2}}},
    }


@dataclass
class Secured:
    px: Proc
    server: Proc
    record: Path
    iss: Issuer
    other: Issuer

    def user(self, **claims: Any) -> str:
        return self.iss.token(groups=["mcp-users"], **claims)

    def received(self) -> int:
        """Requests of this test the server got (the proxy's own checks carry no X-Test)."""
        if not self.record.exists():
            return 0
        lines = [json.loads(line) for line in self.record.read_text().splitlines()]
        return sum(1 for line in lines if "x-test" in line["headers"])

    def post(
        self, body: Any, token: str | None = None, session: str = "", **headers: str
    ) -> httpx.Response:
        h = dict(ACCEPT, **headers, **{"X-Test": "1"})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if session:
            h["Mcp-Session-Id"] = session
        return httpx.post(self.px.url, content=json.dumps(body), headers=h, timeout=30)

    def session(self, token: str) -> str:
        resp = self.post(INIT, token)
        assert resp.status_code == 200, resp.text
        sid = resp.headers["mcp-session-id"]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert self.post(note, token, sid).status_code == 202
        return sid

    def audit(self) -> list[dict[str, Any]]:
        lines = [
            json.loads(line)
            for line in self.px.log.read_text().splitlines()
            if line.startswith("{")
        ]
        return [line for line in lines if line.get("event") == "audit"]


@contextlib.contextmanager
def secured(tmp: Path, *args: str) -> Iterator[Secured]:
    record = tmp / "received.jsonl"
    with (
        issuer() as iss,
        issuer() as other,
        era_server(tmp, "both", "--record", str(record)) as server,
    ):
        path = tmp / "security.json"
        path.write_text(json.dumps(settings(iss)))
        # Sessions stay open at the end: a short drain so stopping does not wait for them.
        with proxy(
            tmp, "--security-file", str(path), "--drain-timeout", "1s", *args, upstream=server
        ) as px:
            yield Secured(px, server, record, iss, other)


def test_unauthenticated_is_refused_and_pointed_at_the_metadata(tmp_path: Path) -> None:
    with secured(tmp_path) as s:
        before = s.received()
        resp = s.post(INIT)
        assert resp.status_code == 401
        challenge = resp.headers["www-authenticate"]
        metadata_url = f"{s.px.base}/.well-known/oauth-protected-resource"
        assert challenge == f'Bearer resource_metadata="{metadata_url}"'
        meta = httpx.get(metadata_url, timeout=10).json()
        assert meta["authorization_servers"] == [s.iss.url]
        assert meta["resource"] == s.px.url
        # The kubelet's checks and the operator's reads need no token.
        for path in ("/readyz", "/livez", "/metrics", "/mcpops/info"):
            assert s.px.status(path) == 200, path
        assert s.received() == before  # the 401 never reached the server
        bad = s.post(INIT, s.iss.token(aud="someone-else"))
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_allowed_caller_sees_and_calls_only_allowed_tools(tmp_path: Path) -> None:
    with secured(tmp_path) as s:
        token = s.user()
        sid = s.session(token)
        listed = answer(s.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, token, sid))
        tools = {t["name"]: t for t in listed["result"]["tools"]}
        # users may call echo and whoami (renamed); slow is denied, the rest not allowed.
        assert set(tools) == {"echo", "who_am_i"}
        assert tools["who_am_i"]["description"] == "Which replica answered."

        args = {"text": "through the guard"}
        ok = answer(
            s.post(
                {
                    "jsonrpc": "2.0",
                    "id": 3,
                    "method": "tools/call",
                    "params": {"name": "echo", "arguments": args},
                },
                token,
                sid,
            )
        )
        assert ok["result"]["content"][0]["text"] == "through the guard"
        renamed = answer(
            s.post(
                {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "who_am_i"}},
                token,
                sid,
            )
        )
        assert "pid" in renamed["result"]["content"][0]["text"]
        received = [json.loads(line) for line in s.record.read_text().splitlines()]
        assert not any("authorization" in r["headers"] for r in received)  # not passed on
        bodies = [json.loads(r["body"]) for r in received if r["body"].startswith("{")]
        names = [b["params"]["name"] for b in bodies if b.get("method") == "tools/call"]
        assert names == ["echo", "whoami"]  # the server got its own name, and no denied call

        denied = answer(
            s.post(
                {
                    "jsonrpc": "2.0",
                    "id": 5,
                    "method": "tools/call",
                    "params": {"name": "slow", "arguments": {"seconds": 0}},
                },
                token,
                sid,
            )
        )
        assert denied["error"]["code"] == -32602
        assert "in tools.deny" in denied["error"]["message"]

        audit = s.audit()
        echo = next(a for a in audit if a["tool"] == "echo")
        assert (
            echo["caller"] == "alice" and echo["callerClass"] == "users" and echo["outcome"] == "ok"
        )
        raw = json.dumps(args, separators=(",", ":")).encode()
        assert echo["argumentsSha256"] == hashlib.sha256(raw).hexdigest()
        assert echo["argumentsBytes"] == len(raw) and "arguments" not in echo
        assert next(a for a in audit if a["tool"] == "slow")["outcome"] == "denied"
        assert (
            s.px.metric(
                "mcpops_proxy_tool_calls_total", 'tool="echo",outcome="ok",caller_class="users"'
            )
            == 1
        )
        assert (
            s.px.metric(
                "mcpops_proxy_tool_calls_total", 'tool="slow",outcome="denied",caller_class="users"'
            )
            == 1
        )


def test_rate_limit_trips_and_recovers(tmp_path: Path) -> None:
    with secured(tmp_path) as s:
        token = s.iss.token(sub=SA)
        sid = s.session(token)
        call = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "progress", "arguments": {"steps": 1, "interval": 0}},
        }
        # Burst 2, then 1/s: calls in a row until the first refusal. (Three in a row are not
        # enough on a loaded machine: if they take a second, the bucket has refilled one.)
        started = time.monotonic()
        results = [s.post(call, token, sid), s.post(call, token, sid)]
        while results[-1].status_code == 200 and len(results) < 10:
            results.append(s.post(call, token, sid))
        elapsed = time.monotonic() - started
        assert [r.status_code for r in results[:2]] == [200, 200], [r.text for r in results]
        assert results[-1].status_code == 429, [r.status_code for r in results]
        assert len(results) - 1 <= 2 + elapsed  # never more than the burst and the rate allow
        wait = int(results[2].headers["retry-after"])
        assert 1 <= wait <= 2
        time.sleep(wait)  # the limit's own answer says when: not a guess
        assert s.post(call, token, sid).status_code == 200
        assert s.px.metric("mcpops_proxy_policy_refusals_total", 'reason="rate_limited_tool"') == 1
        assert (
            s.px.metric(
                "mcpops_proxy_tool_calls_total",
                'tool="progress",outcome="ok",caller_class="agents"',
            )
            == 3
        )


def hostile_token(s: Secured, case: dict[str, Any]) -> dict[str, str] | None:
    kind = case.get("token", "valid")
    now = int(time.time())
    claims = {"groups": ["mcp-users"]}
    for k, v in (case.get("claims") or {}).items():
        claims[k] = now + v if k in ("exp", "nbf", "iat") and isinstance(v, int) else v
    if case.get("pad"):
        claims["pad"] = "x" * case["pad"]
    if kind == "absent":
        return None
    if isinstance(kind, dict):
        return {"Authorization": kind["header"]}
    if kind == "valid":
        token = s.iss.token(
            case.get("alg", "RS256"), case.get("kid"), case.get("headers"), **claims
        )
    elif kind == "none":
        sig = b""
        if case.get("signature") == "from-valid":
            sig = jwt.utils.base64url_decode(s.user().split(".")[2])
        token = unsigned({"alg": case.get("alg", "none")}, s.iss.claims(**claims), sig)
    elif kind == "hs256-pubkey":
        token = hs256({"alg": "HS256", "kid": "r1"}, s.iss.claims(**claims), s.iss.rsa_public_pem())
    elif kind == "tamper":
        head, _, sig = s.user().split(".")
        token = ".".join([head, b64(json.dumps(s.iss.claims(**claims)).encode()), sig])
    elif kind == "es256-der":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        signing = (
            b64(json.dumps({"alg": "ES256", "kid": "e1"}).encode())
            + "."
            + b64(json.dumps(s.iss.claims(**claims)).encode())
        )
        token = signing + "." + b64(s.iss.ec.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
    elif kind == "other-issuer":
        token = s.other.token(**claims)
    elif kind == "other-key":
        token = jwt.encode(
            s.iss.claims(**claims), s.other.rsa, algorithm="RS256", headers={"kid": "r1"}
        )
    else:
        raise AssertionError(f"unknown token kind {kind!r}")
    return {"Authorization": f"Bearer {token}"}


def hostile_request(s: Secured, case: dict[str, Any], session: str) -> httpx.Response:
    headers = dict(
        ACCEPT,
        **{"Mcp-Session-Id": session, "X-Test": case["name"].encode("ascii", "replace").decode()},
    )
    auth = hostile_token(s, case)
    pairs = list(headers.items())
    if auth:
        pairs.append(("Authorization", auth["Authorization"]))
        if case.get("duplicate_authorization"):
            pairs.append(("Authorization", f"Bearer {s.user()}"))
    if case.get("big_header"):
        pairs.append(("X-Filler", "x" * case["big_header"]))
    if "raw_body" in case:
        content = case["raw_body"].encode()
    elif "body_bytes" in case:
        content = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "x" * case["body_bytes"]}},
            }
        ).encode()
    else:
        body = case.get("body") or {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hi"}},
        }
        content = json.dumps(body).encode()
    return httpx.post(s.px.url, content=content, headers=pairs, timeout=30)


def test_hostile_request_corpus(tmp_path: Path) -> None:
    """Every case: refused with its status, nothing reaches the server, the proxy lives."""
    assert len(CASES) >= 50, len(CASES)
    with secured(tmp_path, "--max-body", "65536") as s:
        session = s.session(s.user())
        failures = []
        for case in CASES:
            before = s.received()
            resp = hostile_request(s, case, session)
            problems = []
            if resp.status_code != case["status"]:
                problems.append(
                    f"status {resp.status_code}, want {case['status']}: {resp.text[:200]}"
                )
            if "error" in case and case["error"] not in resp.text:
                problems.append(f"error {case['error']!r} not in {resp.text[:300]}")
            if resp.status_code == 401 and "resource_metadata=" not in resp.headers.get(
                "www-authenticate", ""
            ):
                problems.append("401 without the resource_metadata challenge")
            if s.received() != before:
                problems.append(
                    "reached the server: " + s.record.read_text().splitlines()[-1][:300]
                )
            if s.px.proc.poll() is not None or s.px.status("/livez") != 200:
                problems.append("the proxy died")
            if problems:
                failures.append(f"{case['name']}: {'; '.join(problems)}")
        assert not failures, "\n".join(failures)
        reasons = {c["reason"] for c in CASES if "reason" in c}
        for reason in reasons:
            assert s.px.metric("mcpops_proxy_auth_refusals_total", f'reason="{reason}"') >= 1, (
                reason
            )
        # After the corpus, the allowed path still works.
        ok = answer(
            s.post(
                {
                    "jsonrpc": "2.0",
                    "id": 9,
                    "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": "still here"}},
                },
                s.user(),
                session,
            )
        )
        assert ok["result"]["content"][0]["text"] == "still here"


def test_cel_rule_admits_by_claims_and_tool(tmp_path: Path) -> None:
    """A rule's CEL `when` decides per caller and per tool, in tools/list and tools/call."""
    with secured(tmp_path) as s:
        sre = s.iss.token(sub="carol", groups=["sre"])
        sid = s.session(sre)
        listed = answer(s.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, sre, sid))
        assert [t["name"] for t in listed["result"]["tools"]] == ["progress"]
        call = {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "progress", "arguments": {"steps": 1, "interval": 0}},
        }
        assert "result" in answer(s.post(call, sre, sid))
        echo = {**call, "params": {"name": "echo", "arguments": {"text": "x"}}}
        refused = answer(s.post(echo, sre, sid))
        assert "no tools.rules entry matches" in refused["error"]["message"]

        # A groups claim of the wrong type: every evaluation fails, so nothing is listed.
        odd = s.iss.token(sub="mallory", groups="sre")
        listed = answer(s.post({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}, odd, sid))
        assert listed["result"]["tools"] == []
        audit = [(a["caller"], a["tool"], a["outcome"], a["callerClass"]) for a in s.audit()]
        # A rule with a when names no class (its answer depends on the tool).
        assert audit == [
            ("carol", "progress", "ok", "authenticated"),
            ("carol", "echo", "denied", "authenticated"),
        ]


@pytest.mark.parametrize(
    ("content", "names"),
    [
        ('{"tools": {"alow": ["echo"]}}', ["alow"]),
        (
            json.dumps(
                {
                    "tools": {
                        "rules": [{"name": "sre", "when": 'claims.groups.exists(g, g == "sre"'}]
                    }
                }
            ),
            ['tools.rules[0].when (rule "sre")', "Syntax error"],
        ),
        (
            json.dumps({"tools": {"rules": [{"name": "sre", "when": "tool"}]}}),
            ['tools.rules[0].when (rule "sre")', "not bool"],
        ),
    ],
    ids=["typo", "cel-syntax", "cel-not-bool"],
)
def test_bad_security_file_stops_the_proxy(tmp_path: Path, content: str, names: list[str]) -> None:
    """Fail closed: a typo in the file, or a rule whose CEL does not compile to a bool,
    must not leave the server open."""
    import subprocess

    from process.proxykit import proxy_bin

    path = tmp_path / "security.json"
    path.write_text(content)
    run = subprocess.run(
        [proxy_bin(), "--security-file", str(path), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode != 0
    for name in names:
        assert name in run.stderr


def _write_pair(directory: Path, name: str) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written aside and renamed in, as the kubelet updates a Secret volume.
    for file, data in (
        ("tls.key", pem_key),
        ("tls.crt", cert.public_bytes(serialization.Encoding.PEM)),
    ):
        (directory / (file + ".tmp")).write_bytes(data)
        (directory / (file + ".tmp")).rename(directory / file)


def _served_name(port: int) -> str:
    import ssl

    from cryptography import x509

    pem = ssl.get_server_certificate(("127.0.0.1", port), timeout=5)
    cert = x509.load_pem_x509_certificate(pem.encode())
    return str(cert.subject.rfc4514_string())


def test_tls_from_files_reloads_without_restart(tmp_path: Path) -> None:
    from process.proxykit import wait_until

    certs = tmp_path / "certs"
    certs.mkdir()
    _write_pair(certs, "first")
    path = tmp_path / "security.json"
    path.write_text(
        json.dumps({"tls": {"certFile": str(certs / "tls.crt"), "keyFile": str(certs / "tls.key")}})
    )
    with (
        era_server(tmp_path, "both") as server,
        proxy(tmp_path, "--security-file", str(path), upstream=server, ready=False) as px,
    ):
        https = px.base.replace("http://", "https://")
        wait_until(
            lambda: httpx.get(https + "/readyz", verify=False, timeout=5).status_code == 200,
            60,
            "ready over TLS",
            px.log,
        )
        assert _served_name(px.port) == "CN=first"
        pid = px.proc.pid
        _write_pair(certs, "renewed")
        wait_until(
            lambda: _served_name(px.port) == "CN=renewed", 30, "the renewed certificate", px.log
        )
        assert px.proc.pid == pid and px.proc.poll() is None  # no restart
        # No plain HTTP beside TLS: Go's TLS server answers it with a 400.
        assert httpx.get(px.base + "/readyz", timeout=5).status_code == 400


def test_stdio_bridge_applies_the_same_policy(tmp_path: Path) -> None:
    """The guard sits in front of either transport: a stdio server behind the bridge."""
    import sys

    from process.proxykit import open_session, post

    path = tmp_path / "security.json"
    rules = {"deny": ["slow", "wait_*"], "overrides": {"echo": {"description": "Says it back."}}}
    path.write_text(json.dumps({"tools": rules, "audit": {"includeArguments": True}}))
    era = [sys.executable, "-m", "servers.era_server", "--stdio"]
    args = ["--transport", "stdio", "--security-file", str(path), "--drain-timeout", "1s"]
    with proxy(tmp_path, *args, "--", *era) as px:
        sid = open_session(px.url)
        listed = answer(post(px.url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, sid))
        tools = {t["name"]: t for t in listed["result"]["tools"]}
        assert set(tools) == {"echo", "whoami", "progress"}
        assert tools["echo"]["description"] == "Says it back."
        body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "slow"}}
        refused = answer(
            post(px.url, {**body, "params": {"name": "slow", "arguments": {"seconds": 9}}}, sid)
        )
        assert "in tools.deny" in refused["error"]["message"]
        ok = answer(
            post(px.url, {**body, "params": {"name": "echo", "arguments": {"text": "x"}}}, sid)
        )
        assert ok["result"]["content"][0]["text"] == "x"
        lines = [
            json.loads(line) for line in px.log.read_text().splitlines() if line.startswith("{")
        ]
        audit = [line for line in lines if line.get("event") == "audit"]
        assert [(a["tool"], a["outcome"], a["callerClass"]) for a in audit] == [
            ("slow", "denied", "anonymous"),
            ("echo", "ok", "anonymous"),
        ]
        assert audit[1]["arguments"] == {"text": "x"}  # includeArguments: true
