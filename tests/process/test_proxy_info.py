"""The operator's side of /mcpops/info (machinery.proxyinfo) against the real proxy in
front of a real stdio server: the protocol revision it classified, asked once per
revision; an address that does not answer is asked again only after the retry delay."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from ports import free_port
from process.proxykit import open_session, proxy, wait_until

from mcpops import metrics
from mcpops.machinery.proxyinfo import ProxyInfos

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]

TIME_SERVER = [sys.executable, "-m", "mcp_server_time"]


def asked(outcome: str) -> float:
    return metrics.PROXY_INFO_REQUESTS.labels(outcome)._value.get()


async def test_protocol_of_a_revision_from_its_proxy(tmp_path: Path) -> None:
    with proxy(tmp_path, "--transport", "stdio", "--", *TIME_SERVER) as px:
        wait_until(lambda: px.json("/mcpops/info")["protocolVersion"], 60, "classified")
        infos = ProxyInfos(retry=60.0, quick=60.0)  # answers within the reconcile's wait
        try:
            dead = f"127.0.0.1:{free_port()}"
            address = f"127.0.0.1:{px.port}"
            ok, errors = asked("ok"), asked("error")
            # The first address of a revision refuses: its second one is asked.
            got = await infos.protocols("srv", {"r1": [dead, address], "r2": [dead]})
            assert got == {"r1": "2026-07-28"}
            assert (asked("ok") - ok, asked("error") - errors) == (1, 2)
            info = await infos.fetch(address)
            assert info is not None and info.ready and info.sessions == 0
            # Kept for r1; r2 not asked again before the retry delay.
            ok, errors = asked("ok"), asked("error")
            again = await infos.protocols("srv", {"r1": [address], "r2": [dead]})
            assert again == {"r1": "2026-07-28"}
            assert (asked("ok") - ok, asked("error") - errors) == (0, 0)
            infos.forget("srv")
            assert await infos.protocols("srv", {"r1": [address]}) == {"r1": "2026-07-28"}
            assert asked("ok") - ok == 1
        finally:
            await infos.close()


async def test_open_sessions_are_summed_over_the_proxies_that_answer(tmp_path: Path) -> None:
    with proxy(tmp_path, "--transport", "stdio", "--", *TIME_SERVER) as px:
        infos = ProxyInfos()
        try:
            address, dead = f"127.0.0.1:{px.port}", f"127.0.0.1:{free_port()}"
            assert await infos.sessions([address, dead]) == 0
            session = open_session(px.url)  # a 2025-11-25 session: the proxy owns it
            assert await infos.sessions([address, dead]) == 1
            assert await infos.sessions([dead]) is None  # nobody answered: unknown, not 0
            async with httpx.AsyncClient(timeout=30) as http:
                ended = await http.delete(px.url, headers={"Mcp-Session-Id": session})
            assert ended.status_code < 300
            wait_until(lambda: px.json("/mcpops/info")["sessions"] == 0, 30, "session ended")
            assert await infos.sessions([address]) == 0
        finally:
            await infos.close()


async def test_a_slow_proxy_does_not_hold_the_reconcile_and_is_learned_later(
    tmp_path: Path,
) -> None:
    """The first pod accepts the connection and never answers: the reconcile goes on after
    the short wait, the ask continues (to the second pod) and says when it has learned."""
    with proxy(tmp_path, "--transport", "stdio", "--", *TIME_SERVER) as px:
        wait_until(lambda: px.json("/mcpops/info")["protocolVersion"], 60, "classified")
        silent = socket.socket()
        silent.bind(("127.0.0.1", free_port()))
        silent.listen(8)  # connections queue and nothing is ever read or answered
        learned: list[str] = []
        told = asyncio.Event()
        infos = ProxyInfos(timeout=1.0, quick=0.05)

        def on_learned(key: str) -> None:
            learned.append(key)
            told.set()

        infos.on_learned = on_learned
        try:
            hung = f"127.0.0.1:{silent.getsockname()[1]}"
            address = f"127.0.0.1:{px.port}"
            started = time.monotonic()
            assert await infos.protocols("srv", {"r1": [hung, address]}) == {}
            assert time.monotonic() - started < 0.9  # not the silent pod's whole timeout
            # Asked once while the first ask runs: no second ask is started.
            assert await infos.protocols("srv", {"r1": [hung, address]}) == {}
            assert len(infos.asking) == 1
            await asyncio.wait_for(told.wait(), timeout=30)
            assert learned == ["srv"]
            assert await infos.protocols("srv", {"r1": [hung, address]}) == {"r1": "2026-07-28"}
            assert not infos.asking
        finally:
            await infos.close()
            silent.close()
