"""Version lookups for spec.updates: the tags (and digests) of an OCI repository, the
releases of a PyPI or npm package.

Rate-limit friendly: one lookup per source per interval, shared by every MCPServer that
uses it (and concurrent askers wait for the one in flight); conditional requests (ETag,
If-None-Match) so an unchanged answer costs a 304; after a failure the next attempt
backs off (30 s, doubling, at most the interval) and the last good answer is kept.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from mcpops import metrics

PYPI = "https://pypi.org/pypi"  # where <project>/json answers
NPM = "https://registry.npmjs.org"
# Registries spoken to over plain HTTP, as the container runtimes do by default.
LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
FIRST_BACKOFF = 30.0
MAX_PAGES = 50


@dataclass(frozen=True)
class Auth:
    username: str = ""
    password: str = ""  # or a token, with no username

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def auth_from_secret(secret: dict[str, Any], host: str) -> Auth | None:
    """Credentials from a Secret: a dockerconfigjson (the entry for `host`), or keys
    username and password, or token."""
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    if ".dockerconfigjson" in data:
        auths = (json.loads(data[".dockerconfigjson"]).get("auths")) or {}
        for name, entry in auths.items():
            if name.removeprefix("https://").removeprefix("http://").split("/")[0] == host:
                if entry.get("auth"):
                    user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
                    return Auth(user, pw)
                return Auth(entry.get("username", ""), entry.get("password", ""))
        return None
    if "token" in data:
        return Auth("", data["token"])
    if "password" in data:
        return Auth(data.get("username", ""), data["password"])
    return None


@dataclass
class Lookup:
    """What a source offered at `checked_at` (the last good answer, if the latest failed)."""

    versions: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    checked_at: datetime | None = None
    error: str | None = None


@dataclass
class _Entry:
    lookup: Lookup
    due: datetime
    failures: int = 0


class SourceError(Exception):
    """The source answered, but not with versions (not found, refused)."""


class Lookups:
    """The lookups of one operator process: a cache per source, shared by all servers."""

    def __init__(self, http: httpx.AsyncClient | None = None) -> None:
        self.http = http or httpx.AsyncClient(timeout=10.0, follow_redirects=True)
        self.cache: dict[str, _Entry] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.etags: dict[str, tuple[str, Any]] = {}  # url -> (ETag, parsed body)
        self.tokens: dict[str, str] = {}  # registry scope -> bearer token

    async def close(self) -> None:
        await self.http.aclose()

    async def get(
        self,
        source: str,
        name: str,
        *,
        interval: float,
        index: str | None = None,
        auth: Auth | None = None,
        tags: tuple[str, ...] = (),
        list_tags: bool = True,
        now: datetime | None = None,
    ) -> Lookup:
        """What `source` (image, pypi, npm) offers for `name` (registry/repository, or a
        package), asked at most once per `interval` seconds; `tags`: tags whose digest is
        wanted too (source image)."""
        key = f"{source}:{index or ''}:{name}:{','.join(sorted(tags))}:{int(list_tags)}"
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            now = now or datetime.now(UTC)
            entry = self.cache.get(key)
            if entry is not None and now < entry.due:
                return entry.lookup
            try:
                found = await self._ask(source, name, index, auth, tags, list_tags)
            except (httpx.HTTPError, SourceError, ValueError, KeyError) as exc:
                return self._failed(key, source, entry, exc, now, interval)
            metrics.UPDATE_LOOKUPS.labels(source, "ok").inc()
            before = set(entry.lookup.versions) if entry else set()
            metrics.UPDATE_VERSIONS_FOUND.labels(source).inc(len(set(found.versions) - before))
            found.checked_at = now
            self.cache[key] = _Entry(found, now + timedelta(seconds=interval))
            return found

    def _failed(
        self,
        key: str,
        source: str,
        entry: _Entry | None,
        exc: Exception,
        now: datetime,
        interval: float,
    ) -> Lookup:
        metrics.UPDATE_LOOKUPS.labels(source, "error").inc()
        failures = (entry.failures if entry else 0) + 1
        wait = min(interval, FIRST_BACKOFF * 2 ** (failures - 1))
        last = entry.lookup if entry else Lookup()
        kept = Lookup(last.versions, last.digests, now, f"{type(exc).__name__}: {exc}"[:300])
        self.cache[key] = _Entry(kept, now + timedelta(seconds=wait), failures)
        return kept

    async def _ask(
        self,
        source: str,
        name: str,
        index: str | None,
        auth: Auth | None,
        tags: tuple[str, ...],
        list_tags: bool,
    ) -> Lookup:
        if source == "pypi":
            return Lookup(await self.pypi_versions(name, index or PYPI, auth))
        if source == "npm":
            return Lookup(await self.npm_versions(name, index or NPM, auth))
        registry, _, repository = name.partition("/")
        found = Lookup(await self.tags(registry, repository, auth) if list_tags else [])
        for tag in tags:
            digest = await self.digest(registry, repository, tag, auth)
            if digest:
                found.digests[tag] = digest
        return found

    # ---------------------------------------------------------------- HTTP

    async def _fetch(
        self, url: str, headers: dict[str, str], *, method: str = "GET"
    ) -> tuple[httpx.Response, Any]:
        """A conditional GET: the body (parsed JSON) from the cache when it is unchanged."""
        cached = self.etags.get(url)
        if cached and method == "GET":
            headers = {**headers, "If-None-Match": cached[0]}
        resp = await self.http.request(method, url, headers=headers)
        if resp.status_code == 304 and cached:
            metrics.UPDATE_NOT_MODIFIED.inc()
            return resp, cached[1]
        if resp.status_code >= 400 or method != "GET":
            return resp, None
        body = resp.json()
        if resp.headers.get("ETag"):
            self.etags[url] = (resp.headers["ETag"], body)
        return resp, body

    async def _json(self, url: str, headers: dict[str, str]) -> Any:
        resp, body = await self._fetch(url, headers)
        if resp.status_code == 404:
            raise SourceError(f"{url} not found (404)")
        resp.raise_for_status()
        return body

    # ---------------------------------------------------------------- package indexes

    async def pypi_versions(self, name: str, index: str, auth: Auth | None) -> list[str]:
        """Releases of a PyPI project from the JSON API (`<index>/<project>/json`, as PyPI
        and pypiserver serve it); yanked releases left out."""
        headers = {"Authorization": auth.basic()} if auth else {}
        body = await self._json(f"{index.rstrip('/')}/{_normalize(name)}/json", headers)
        releases: dict[str, list[dict[str, Any]]] = body.get("releases") or {}
        return [
            v
            for v, files in releases.items()
            if not files or not all(f.get("yanked") for f in files)
        ]

    async def npm_versions(self, name: str, registry: str, auth: Auth | None) -> list[str]:
        """Versions of an npm package from its (abbreviated) registry metadata; deprecated
        versions left out."""
        headers = {"Accept": "application/vnd.npm.install-v1+json; q=1.0, application/json"}
        if auth:
            headers["Authorization"] = (
                f"Bearer {auth.password}" if not auth.username else auth.basic()
            )
        doc = await self._json(f"{registry.rstrip('/')}/{quote(name, safe='@')}", headers)
        versions: dict[str, dict[str, Any]] = doc.get("versions") or {}
        return [v for v, meta in versions.items() if not meta.get("deprecated")]

    # ---------------------------------------------------------------- OCI distribution

    def _base(self, registry: str) -> str:
        host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry
        return f"{'http' if host in LOOPBACK else 'https'}://{registry}"

    async def _registry(
        self, registry: str, repository: str, path: str, auth: Auth | None, *, head: bool = False
    ) -> tuple[httpx.Response, Any]:
        """A registry request, answering its auth challenge (Bearer token or Basic) once."""
        url = f"{self._base(registry)}/v2/{repository}/{path}"
        headers = {"Accept": MANIFEST_TYPES}
        scope = f"{registry}/{repository}"
        if scope in self.tokens:
            headers["Authorization"] = self.tokens[scope]
        method = "HEAD" if head else "GET"
        resp, body = await self._fetch(url, headers, method=method)
        if resp.status_code == 401:
            self.tokens[scope] = await self._authorize(resp, repository, auth)
            headers["Authorization"] = self.tokens[scope]
            resp, body = await self._fetch(url, headers, method=method)
        return resp, body

    async def _authorize(self, resp: httpx.Response, repository: str, auth: Auth | None) -> str:
        challenge = resp.headers.get("WWW-Authenticate", "")
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() == "basic":
            if auth is None:
                raise SourceError("the registry wants credentials: set credentialsSecret")
            return auth.basic()
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if scheme.lower() != "bearer" or "realm" not in params:
            raise SourceError(f"the registry refused the request: {resp.status_code}")
        query = {"scope": f"repository:{repository}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        headers = {"Authorization": auth.basic()} if auth else {}
        token_resp = await self.http.get(params["realm"], params=query, headers=headers)
        token_resp.raise_for_status()
        doc = token_resp.json()
        return f"Bearer {doc.get('token') or doc.get('access_token')}"

    async def tags(self, registry: str, repository: str, auth: Auth | None) -> list[str]:
        """Every tag of a repository, following the registry's pages (Link: rel=next)."""
        found: list[str] = []
        path = "tags/list?n=1000"
        for _ in range(MAX_PAGES):
            resp, body = await self._registry(registry, repository, path, auth)
            if resp.status_code == 404:
                raise SourceError(f"repository {registry}/{repository} not found")
            resp.raise_for_status()
            found.extend(body.get("tags") or [])
            nxt = re.search(r"<([^>]+)>;\s*rel=\"?next\"?", resp.headers.get("Link", ""))
            if not nxt:
                break
            path = urljoin("/v2/" + repository + "/tags/list", nxt.group(1)).split(
                f"/v2/{repository}/", 1
            )[1]
        return found

    async def digest(
        self, registry: str, repository: str, tag: str, auth: Auth | None
    ) -> str | None:
        """The manifest digest a tag points at now (None when the tag does not exist)."""
        path = f"manifests/{tag}"
        resp, _ = await self._registry(registry, repository, path, auth, head=True)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        digest = resp.headers.get("Docker-Content-Digest")
        if digest:
            return str(digest)
        # no header: the digest is the hash of the manifest's bytes
        resp = await self.http.get(
            f"{self._base(registry)}/v2/{repository}/{path}",
            headers={"Accept": MANIFEST_TYPES, **_auth_header(self.tokens, registry, repository)},
        )
        resp.raise_for_status()
        return "sha256:" + hashlib.sha256(resp.content).hexdigest()


def _auth_header(tokens: dict[str, str], registry: str, repository: str) -> dict[str, str]:
    token = tokens.get(f"{registry}/{repository}")
    return {"Authorization": token} if token else {}


def _normalize(name: str) -> str:
    """PEP 503's normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()
