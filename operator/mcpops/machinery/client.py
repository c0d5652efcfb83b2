"""A small async Kubernetes API client on httpx: the operator's lists, watches and writes.

It applies children (server-side apply, one field manager), patches status, posts
Events, deletes, lists and watches. Every request is counted in
`mcpops_api_requests_total` so tests and benchmarks can assert how many writes a
reconcile made. A request the API server refuses with 401 (a token rotated or expired)
is sent once more after logging in again (login.login, the way Kopf logs in).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog

from mcpops import metrics
from mcpops.objects.bodies import Body
from mcpops.objects.paths import manifest_path, resource_path

log = structlog.stdlib.get_logger("mcpops.machinery.client")

FIELD_MANAGER = "mcpops"
# Takes ownership of a Deployment's replicas for one write when an autoscaler takes them
# over: the operator's own manager can then leave them out without the API server
# resetting them to 1 (server-side apply's "transferring ownership").
HANDOVER_MANAGER = "mcpops-handover"
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Requests (not watches) in flight to the API server at once; more wait their turn here.
REQUEST_CONNECTIONS = 16


class ApiError(Exception):
    def __init__(self, status: int, body: Body | str, method: str, url: str) -> None:
        self.status = status
        self.body = body
        # The API server's Status message; `detail` is it or, for a body that is not a
        # Status (a proxy's page), that text.
        self.message = str(body.get("message", "")) if isinstance(body, dict) else ""
        self.detail = self.message if isinstance(body, dict) else str(body)
        self.reason = body.get("reason", "") if isinstance(body, dict) else ""
        super().__init__(f"{method} {url}: {status} {self.reason} {self.detail[:500]}".strip())

    @property
    def forbidden(self) -> bool:
        """RBAC refused us (not a terminating namespace): a person has to grant it."""
        return self.status == 403 and not self.gone

    @property
    def gone(self) -> bool:
        """The object, or its namespace, is gone or going: nothing left to reconcile."""
        return self.status == 404 or (self.status == 403 and "being terminated" in self.detail)


@dataclass(frozen=True)
class Credentials:
    server: str
    token: str | None = field(default=None, repr=False)
    ca_path: str | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    cert_path: str | None = None  # a client certificate, from a file...
    cert_data: bytes | None = field(default=None, repr=False)  # ...or inline (PEM)
    key_path: str | None = None
    key_data: bytes | None = field(default=None, repr=False)


def ssl_context(creds: Credentials) -> ssl.SSLContext | bool:
    if creds.insecure:
        return False
    ctx = ssl.create_default_context(
        cafile=creds.ca_path,
        cadata=creds.ca_data.decode() if creds.ca_data else None,
    )
    if creds.cert_path and creds.key_path:
        ctx.load_cert_chain(creds.cert_path, creds.key_path)
    elif creds.cert_data and creds.key_data:
        # ssl loads a key only from a file: one in a private directory, gone once loaded.
        with tempfile.TemporaryDirectory(prefix="mcpops-") as tmp:
            cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert.write_bytes(creds.cert_data)
            key.touch(mode=0o600)
            key.write_bytes(creds.key_data)
            ctx.load_cert_chain(cert, key)
    return ctx


Login = Callable[[], Credentials]


class _BearerAuth(httpx.Auth):
    """The current token on every request; on a 401, log in again and send it once more."""

    requires_request_body = True  # a retried request needs its body again

    def __init__(self, client: Client) -> None:
        self._client = client

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._client.token
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        fresh = await self._client.relogin(token)
        if fresh is None:
            return  # the same credentials: the 401 stands
        request.headers["Authorization"] = f"Bearer {fresh}"
        yield request


class Client:
    """One connection pool to the API server.

    `login`, when given, is called for credentials at the start and again after a 401
    (with a lock: one re-login however many requests were refused at once). Only the
    bearer token is taken up again; a client certificate is loaded once.
    """

    def __init__(
        self,
        creds: Credentials | None = None,
        *,
        login: Login | None = None,
        timeout: float = 30.0,
    ) -> None:
        if creds is None:
            if login is None:
                raise ValueError("Client needs credentials or a login function")
            creds = login()
        self.token = creds.token
        self._login = login
        self._relogin_lock = asyncio.Lock()
        headers = {"Accept": "application/json", "User-Agent": "mcpops"}

        def pool(limits: httpx.Limits) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=creds.server,
                headers=headers,
                auth=_BearerAuth(self),
                verify=ssl_context(creds),
                timeout=timeout,
                limits=limits,
            )

        # Requests and watches get a pool each. httpcore scans every connection of a pool
        # (and, for each idle one, every connection again) whenever a request starts or
        # ends, so a pool's cost per request grows with its size squared: with 64
        # connections that scan was over half the operator's CPU at 1,000 MCPServers.
        # Requests share a small pool that stays open (a pool that closes its surplus after
        # each burst pays a TLS handshake per request under load), and no more of them are
        # handed to it than it has connections, so its queue stays empty. Watches hold one
        # connection each for as long as they run, in a pool of their own.
        self._slots = asyncio.Semaphore(REQUEST_CONNECTIONS)
        self._http = pool(
            httpx.Limits(
                max_connections=REQUEST_CONNECTIONS,
                max_keepalive_connections=REQUEST_CONNECTIONS,
                keepalive_expiry=120.0,
            )
        )
        self._watch_http = pool(
            httpx.Limits(
                max_connections=None, max_keepalive_connections=None, keepalive_expiry=60.0
            )
        )

    async def close(self) -> None:
        await self._http.aclose()
        await self._watch_http.aclose()

    async def relogin(self, refused: str | None) -> str | None:
        """After a 401 with the token `refused`: the token to try again with, or None when
        logging in again gives nothing new (then the 401 stands)."""
        if self._login is None:
            return None
        async with self._relogin_lock:
            if self.token != refused:
                return self.token  # another request logged in again meanwhile
            try:
                creds = await asyncio.to_thread(self._login)
            except Exception as exc:  # unreadable kubeconfig, token file gone...
                metrics.API_LOGINS.labels("failed").inc()
                log.warning("login again failed", error=str(exc))
                return None
            if not creds.token or creds.token == refused:
                metrics.API_LOGINS.labels("unchanged").inc()
                log.warning("the API server refused the token and no newer one is available")
                return None
            self.token = creds.token
            metrics.API_LOGINS.labels("renewed").inc()
            log.info("logged in again: the API server refused the previous token")
            return self.token

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        resource: str = "",
    ) -> Body:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else {}
        try:
            async with self._slots:
                resp = await self._http.request(
                    method, path, content=content, params=params, headers=headers
                )
        except httpx.HTTPError:
            metrics.API_REQUESTS.labels(method, resource, "error").inc()
            raise
        metrics.API_REQUESTS.labels(method, resource, str(resp.status_code)).inc()
        if resp.status_code >= 400:
            try:
                err: Body | str = resp.json()
            except ValueError:
                err = resp.text
            raise ApiError(resp.status_code, err, method, path)
        if not resp.content:
            return {}
        data: Body = resp.json()
        return data

    async def get(
        self, api_version: str, plural: str, namespace: str | None, name: str
    ) -> Body | None:
        try:
            return await self.request(
                "GET", resource_path(api_version, plural, namespace, name), resource=plural
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        limit: int = 500,
        continue_: str | None = None,
    ) -> Body:
        params = {"limit": str(limit)}
        if label_selector:
            params["labelSelector"] = label_selector
        if continue_:
            params["continue"] = continue_
        return await self.request(
            "GET", resource_path(api_version, plural, namespace), params=params, resource=plural
        )

    async def watch(
        self,
        api_version: str,
        plural: str,
        namespace: str | None,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[Body]:
        """One watch request: its events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) until
        the server ends it (after timeout_seconds) or the connection drops (httpx error)."""
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        path = resource_path(api_version, plural, namespace)
        # Quiet watches are normal: the read timeout is the server's own end, plus slack.
        timeout = httpx.Timeout(30.0, read=timeout_seconds + 30.0)
        try:
            async with self._watch_http.stream("GET", path, params=params, timeout=timeout) as resp:
                metrics.API_REQUESTS.labels("WATCH", plural, str(resp.status_code)).inc()
                if resp.status_code >= 400:
                    body = (await resp.aread()).decode(errors="replace")
                    raise ApiError(resp.status_code, body, "WATCH", path)
                async for line in resp.aiter_lines():
                    if line:
                        event: Body = json.loads(line)
                        yield event
        except httpx.HTTPError:
            metrics.API_REQUESTS.labels("WATCH", plural, "error").inc()
            raise

    async def apply(
        self, manifest: Mapping[str, Any], *, force: bool = True, manager: str = FIELD_MANAGER
    ) -> Body:
        """Server-side apply with the operator's field manager (or the handover one)."""
        path, plural = manifest_path(manifest)
        params = {"fieldManager": manager}
        if force:
            params["force"] = "true"
        return await self.request(
            "PATCH",
            path,
            body=manifest,
            params=params,
            content_type="application/apply-patch+yaml",
            resource=plural,
        )

    async def patch_status(
        self, api_version: str, plural: str, namespace: str, name: str, status: Body
    ) -> Body:
        return await self.request(
            "PATCH",
            resource_path(api_version, plural, namespace, name, "status"),
            body={"status": status},
            content_type="application/merge-patch+json",
            resource=f"{plural}/status",
        )

    async def patch(
        self,
        api_version: str,
        plural: str,
        namespace: str,
        name: str,
        patch: Body,
    ) -> Body:
        return await self.request(
            "PATCH",
            resource_path(api_version, plural, namespace, name),
            body=patch,
            content_type="application/merge-patch+json",
            resource=plural,
        )

    async def delete(
        self,
        api_version: str,
        plural: str,
        namespace: str,
        name: str,
        *,
        uid: str | None = None,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False if it was already gone. A UID precondition protects re-creations."""
        body: Body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": propagation,
        }
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self.request(
                "DELETE",
                resource_path(api_version, plural, namespace, name),
                body=body,
                resource=plural,
            )
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def create(self, manifest: Mapping[str, Any]) -> Body:
        path, plural = manifest_path(manifest, named=False)
        return await self.request("POST", path, body=manifest, resource=plural)

    async def replace(self, manifest: Mapping[str, Any]) -> Body:
        """PUT: fails with 409 unless metadata.resourceVersion is still current."""
        path, plural = manifest_path(manifest)
        return await self.request("PUT", path, body=manifest, resource=plural)
