"""List-then-watch of one kind with a server-side label selector, feeding the store.

Kopf's event handlers filter by label in the operator: every Pod, EndpointSlice and
ConfigMap in the cluster would be sent to us, parsed and dropped. An informer asks
the API server for only what carries our labels, resumes from the last
resourceVersion after a dropped connection or an API server restart, and lists
again when that version is too old (410 Gone), reporting what vanished meanwhile
as deletions.

An optional kind (a CRD that may not be installed, such as the Gateway API's HTTPRoute)
that the API server does not serve (404) is reported through `on_served` instead of
failing: the informer looks again every `recheck` seconds, and starts watching once the
kind appears (and reports its objects gone if it disappears).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson
import structlog

from mcpops import metrics
from mcpops.machinery.client import ApiError, Client, UnreachableError
from mcpops.objects.bodies import Body

log = structlog.stdlib.get_logger("mcpops.machinery.informer")

# (kind, {"type": ..., "object": ...}): the shape of a Kopf raw event, so routes serve both.
Route = Callable[[str, Any], None]
# (kind, served): an optional kind's API appeared (True) or is not served (False).
Served = Callable[[str, bool], None]
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


class Watch(NamedTuple):
    """One kind to list and watch, with a server-side label selector."""

    api_version: str
    plural: str
    kind: str
    selector: str = ""
    page: int = 500  # objects per list page (smaller for kinds whose objects can be large)
    optional: bool = False  # the API may not be served (a CRD not installed): not an error


class WatchExpiredError(Exception):
    """The watch's resourceVersion is too old: list again."""


class Informer:
    """One kind in one scope (a namespace, or the whole cluster)."""

    def __init__(
        self,
        client: Client,
        api_version: str,
        plural: str,
        kind: str,
        route: Route,
        *,
        namespace: str | None = None,
        selector: str = "",
        page: int = 500,
        optional: bool = False,
        on_served: Served | None = None,
        recheck: float = 30.0,
    ) -> None:
        self.client = client
        self.api_version, self.plural, self.kind = api_version, plural, kind
        self.route = route
        self.namespace = namespace
        self.selector = selector
        self.page = page
        self.resource_version = ""
        self.optional, self.on_served, self.recheck = optional, on_served, recheck
        self.served: bool | None = None  # not known before the first list
        # What we have reported and not yet seen deleted: enough of each to report its
        # deletion after a re-list (its labels, as JSON: one entry per object watched).
        self.known: dict[tuple[str, str], bytes] = {}
        self._events = metrics.WATCH_EVENTS.labels(kind)

    def _deliver(self, type_: str | None, obj: Body) -> None:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        if type_ == "DELETED":
            self.known.pop(key, None)
        else:
            self.known[key] = orjson.dumps(meta.get("labels") or {})
        obj.setdefault("apiVersion", self.api_version)
        obj.setdefault("kind", self.kind)
        try:
            self.route(self.kind, {"type": type_, "object": obj})
        except Exception:  # one bad object must not stop the stream for the others
            log.exception("routing an event failed", kind=self.kind, name=key[1])

    def _gone(self, key: tuple[str, str]) -> Body:
        """What is reported of an object found gone by a re-list: its identity and labels."""
        labels = orjson.loads(self.known[key])
        return {"metadata": {"namespace": key[0] or None, "name": key[1], "labels": labels}}

    def _set_served(self, served: bool) -> None:
        if served != self.served:
            log.info("api served" if served else "api not served", kind=self.kind)
            self.served = served
            if self.on_served is not None:
                self.on_served(self.kind, served)

    async def list(self) -> None:
        """Every object now (paginated), reported as seen; what we knew and is gone, as
        deleted. Sets the resourceVersion the watch continues from (none when an optional
        kind is not served: its objects, if we knew any, are reported gone)."""
        seen: set[tuple[str, str]] = set()
        cont: str | None = None
        while True:
            try:
                page = await self.client.list(
                    self.api_version,
                    self.plural,
                    self.namespace,
                    label_selector=self.selector or None,
                    limit=self.page,
                    continue_=cont,
                )
            except ApiError as exc:
                if not (self.optional and exc.status == 404):
                    raise
                self.resource_version = ""
                for key in list(self.known):
                    self._deliver("DELETED", self._gone(key))
                self._set_served(False)
                return
            for item in page.get("items") or []:
                meta = item.get("metadata") or {}
                seen.add((meta.get("namespace") or "", meta.get("name") or ""))
                self._deliver(None, item)
            meta = page.get("metadata") or {}
            cont = meta.get("continue")
            if not cont:
                self.resource_version = str(meta.get("resourceVersion") or "")
                break
        if self.optional:
            self._set_served(True)
        for key in [k for k in self.known if k not in seen]:
            self._deliver("DELETED", self._gone(key))

    async def _watch_once(self) -> None:
        async for event in self.client.watch(
            self.api_version,
            self.plural,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.selector or None,
        ):
            type_ = event.get("type")
            obj = event.get("object") or {}
            if type_ == "ERROR":
                if obj.get("code") == 410:
                    raise WatchExpiredError(obj.get("message", ""))
                raise ApiError(int(obj.get("code") or 500), obj, "WATCH", self.plural)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = str(rv)
            if type_ != "BOOKMARK":
                self._events.inc()
                self._deliver(type_, obj)

    async def run(self) -> None:
        """Watch until cancelled; list() must have run first."""
        failures = 0
        while True:
            try:
                if not self.resource_version:
                    await self.list()
                if self.served is False:  # an optional kind not installed: look again later
                    await asyncio.sleep(self.recheck)
                    continue
                await self._watch_once()
                failures = 0  # the server ended a healthy watch: continue from where it was
            except asyncio.CancelledError:
                raise
            except WatchExpiredError:
                log.info("watch too old, listing again", kind=self.kind)
                self.resource_version = ""
            except (UnreachableError, ApiError, ValueError) as exc:
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                if isinstance(exc, ApiError) and exc.status in (404, 410):
                    self.resource_version = ""  # 404: the kind itself may be gone
                log.warning(
                    "watch interrupted", kind=self.kind, error=str(exc)[:300], retry_in=delay
                )
                await asyncio.sleep(delay)
