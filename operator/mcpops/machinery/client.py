"""A small async Kubernetes API client on httpx, for the operator's own writes.

Kopf watches; this client applies children (server-side apply, one field
manager), patches status, posts Events and deletes. Every request is counted
in `mcpops_api_requests_total` so tests and benchmarks can assert how many
writes a reconcile made.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from mcpops import metrics

FIELD_MANAGER = "mcpops"
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any] | str, method: str, url: str) -> None:
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
    token: str | None = None
    ca_path: str | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    cert_path: str | None = None
    key_path: str | None = None


def api_prefix(api_version: str) -> str:
    """`v1` -> /api/v1, `apps/v1` -> /apis/apps/v1."""
    if "/" not in api_version:
        return f"/api/{api_version}"
    return f"/apis/{api_version}"


def resource_path(
    api_version: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    path = api_prefix(api_version)
    if namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


# The kinds the operator writes, and their plural names.
PLURALS: dict[str, str] = {
    "Deployment": "deployments",
    "Service": "services",
    "Job": "jobs",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "Pod": "pods",
    "Event": "events",
    "MCPServer": "mcpservers",
    "OptimizationJob": "optimizationjobs",
    "CleanupPolicy": "cleanuppolicies",
    "Lease": "leases",
}


def manifest_path(manifest: dict[str, Any], *, named: bool = True) -> tuple[str, str]:
    """(URL path, plural) of a manifest: the object itself, or its collection."""
    meta = manifest["metadata"]
    plural = PLURALS[manifest["kind"]]
    name = meta["name"] if named else None
    return resource_path(manifest["apiVersion"], plural, meta.get("namespace"), name), plural


def _ssl_context(creds: Credentials) -> ssl.SSLContext | bool:
    if creds.insecure:
        return False
    ctx = ssl.create_default_context(
        cafile=creds.ca_path,
        cadata=creds.ca_data.decode() if creds.ca_data else None,
    )
    if creds.cert_path and creds.key_path:
        ctx.load_cert_chain(creds.cert_path, creds.key_path)
    return ctx


class Client:
    """One connection pool to the API server."""

    def __init__(self, creds: Credentials, *, timeout: float = 30.0) -> None:
        headers = {"Accept": "application/json", "User-Agent": "mcpops"}
        if creds.token:
            headers["Authorization"] = f"Bearer {creds.token}"
        self._http = httpx.AsyncClient(
            base_url=creds.server,
            headers=headers,
            verify=_ssl_context(creds),
            timeout=timeout,
            # Keep every connection alive: a pool that closes its surplus after each burst
            # pays a TLS handshake per request (on both ends) under load. The watches
            # hold one connection each for as long as they run.
            limits=httpx.Limits(
                max_connections=64, max_keepalive_connections=64, keepalive_expiry=120.0
            ),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        resource: str = "",
    ) -> dict[str, Any]:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else {}
        try:
            resp = await self._http.request(
                method, path, content=content, params=params, headers=headers
            )
        except httpx.HTTPError:
            metrics.API_REQUESTS.labels(method, resource, "error").inc()
            raise
        metrics.API_REQUESTS.labels(method, resource, str(resp.status_code)).inc()
        if resp.status_code >= 400:
            try:
                err: dict[str, Any] | str = resp.json()
            except ValueError:
                err = resp.text
            raise ApiError(resp.status_code, err, method, path)
        if not resp.content:
            return {}
        data: dict[str, Any] = resp.json()
        return data

    async def get(
        self, api_version: str, plural: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
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
    ) -> dict[str, Any]:
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
    ) -> AsyncIterator[dict[str, Any]]:
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
            async with self._http.stream("GET", path, params=params, timeout=timeout) as resp:
                metrics.API_REQUESTS.labels("WATCH", plural, str(resp.status_code)).inc()
                if resp.status_code >= 400:
                    body = (await resp.aread()).decode(errors="replace")
                    raise ApiError(resp.status_code, body, "WATCH", path)
                async for line in resp.aiter_lines():
                    if line:
                        event: dict[str, Any] = json.loads(line)
                        yield event
        except httpx.HTTPError:
            metrics.API_REQUESTS.labels("WATCH", plural, "error").inc()
            raise

    async def apply(self, manifest: dict[str, Any], *, force: bool = True) -> dict[str, Any]:
        """Server-side apply with the operator's single field manager."""
        path, plural = manifest_path(manifest)
        params = {"fieldManager": FIELD_MANAGER}
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
        self, api_version: str, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
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
        patch: dict[str, Any],
    ) -> dict[str, Any]:
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
        body: dict[str, Any] = {
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

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        path, plural = manifest_path(manifest, named=False)
        return await self.request("POST", path, body=manifest, resource=plural)

    async def replace(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """PUT: fails with 409 unless metadata.resourceVersion is still current."""
        path, plural = manifest_path(manifest)
        return await self.request("PUT", path, body=manifest, resource=plural)


def credentials_from_kopf(info: Any) -> Credentials:
    """Build credentials from the kopf.ConnectionInfo that Kopf logged in with."""

    def _materialise(data: str | bytes | None, suffix: str) -> str | None:
        if not data:
            return None
        raw = data if isinstance(data, bytes) else data.encode()
        with contextlib.suppress(ValueError):
            raw = base64.b64decode(raw, validate=True)
        with tempfile.NamedTemporaryFile(delete=False, suffix=suffix) as handle:
            handle.write(raw)
            return handle.name

    ca_data = info.ca_data
    if isinstance(ca_data, str):
        ca_data = ca_data.encode()
    if ca_data and not ca_data.lstrip().startswith(b"-----"):
        ca_data = base64.b64decode(ca_data)
    return Credentials(
        server=info.server,
        token=info.token,
        ca_path=str(info.ca_path) if info.ca_path else None,
        ca_data=ca_data or None,
        insecure=bool(info.insecure),
        cert_path=str(info.certificate_path)
        if info.certificate_path
        else _materialise(info.certificate_data, ".crt"),
        key_path=str(info.private_key_path)
        if info.private_key_path
        else _materialise(info.private_key_data, ".key"),
    )
