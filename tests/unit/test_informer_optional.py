"""An informer of an optional kind (a CRD that may not be installed): a 404 is reported as
"not served", looked for again, and watched once it appears; its objects are reported
gone when it disappears. No crash, no crash loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_fault_tolerance import until

from mcpops.machinery.client import ApiError
from mcpops.machinery.informer import Informer

NOT_FOUND = {"kind": "Status", "code": 404, "reason": "NotFound", "message": "not found"}


class MaybeServed:
    """A client for a kind whose CRD comes and goes."""

    def __init__(self) -> None:
        self.served = False
        self.items: list[dict[str, Any]] = []
        self.lists = 0
        self.watches = 0
        self.gone = asyncio.Event()  # set: the CRD is deleted under a running watch

    async def list(self, *_: Any, **__: Any) -> dict[str, Any]:
        self.lists += 1
        if not self.served:
            raise ApiError(404, NOT_FOUND, "GET", "/apis/gateway.networking.k8s.io/v1/httproutes")
        return {"items": list(self.items), "metadata": {"resourceVersion": "7"}}

    async def watch(self, *_: Any, **__: Any) -> AsyncIterator[Any]:
        self.watches += 1
        if not self.served:
            raise ApiError(404, NOT_FOUND, "WATCH", "/apis/gateway.networking.k8s.io/v1/httproutes")
        await self.gone.wait()
        return
        yield  # an async generator


def route(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": "5"}}


def informer(
    client: MaybeServed, events: list[Any], served: list[bool], *, optional: bool = True
) -> Informer:
    return Informer(
        client,  # type: ignore[arg-type]
        "gateway.networking.k8s.io/v1",
        "httproutes",
        "HTTPRoute",
        lambda kind, ev: events.append((ev["type"], ev["object"]["metadata"]["name"])),
        optional=optional,
        on_served=lambda kind, ok: served.append(ok),
        recheck=0.02,
    )


async def test_a_kind_that_is_not_served_is_reported_not_raised() -> None:
    client, events, served = MaybeServed(), [], []  # type: ignore[var-annotated]
    inf = informer(client, events, served)
    await inf.list()  # what prime() does at startup: must not raise
    assert served == [False] and events == [] and inf.resource_version == ""


async def test_a_required_kind_that_is_not_served_still_fails() -> None:
    client, events, served = MaybeServed(), [], []  # type: ignore[var-annotated]
    with pytest.raises(ApiError):
        await informer(client, events, served, optional=False).list()


async def test_it_is_watched_once_it_appears_and_reported_gone_when_it_goes() -> None:
    client, events, served = MaybeServed(), [], []  # type: ignore[var-annotated]
    inf = informer(client, events, served)
    await inf.list()
    task = asyncio.create_task(inf.run())
    try:
        await until(lambda: client.lists >= 3, within=2.0)
        assert client.lists >= 3 and client.watches == 0  # looked for again, not watched
        assert served == [False]  # reported once, not on every look

        client.served, client.items = True, [route("s")]  # the CRDs are installed
        await until(lambda: client.watches >= 1, within=2.0)
        assert served == [False, True]
        assert (None, "s") in events and client.watches == 1

        client.served = False  # the CRDs are deleted
        client.gone.set()
        await until(lambda: served[-1] is False, within=3.0)
        assert served == [False, True, False]
        assert ("DELETED", "s") in events
        assert not task.done()  # no crash
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
