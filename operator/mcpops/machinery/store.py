"""The watch caches: the latest body of every parent and child, indexed by parent.

Watch events (Kopf's for parents, the informers' for children) and the results of our
own writes go in; reconciles read only from here (no extra API reads). Each kind says
what its children's bodies are trimmed to (`trim`), so that the caches hold only what
its decisions read. Children are kept as their JSON (`Packed`) and decoded when a
reconcile reads them: decoded, a Deployment takes about five times the memory of its
JSON, and a fleet's children are most of what the operator holds (measured on a 10,000
server run's bodies: about 50 KiB per MCPServer decoded, 15 KiB packed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from mcpops.objects.bodies import Body

Key = tuple[str, str]  # (namespace, name)
Ref = tuple[str, str]  # (kind, name) of an object a parent's spec reads, in its namespace


def _rv(body: Body) -> int:
    try:
        return int(body.get("metadata", {}).get("resourceVersion", "0"))
    except ValueError:
        return 0


def newer(incoming: int, current: int | None) -> bool:
    """Whether a body of resourceVersion `incoming` may replace what the store holds.

    Our own write's response can overtake the watch: the watch then delivers
    older versions afterwards. Acting on those would undo decisions (a stale
    activeRevision), so they are dropped. resourceVersions are opaque in the
    API contract; on etcd they are revisions, and an unparsable one (0) is accepted.
    """
    return current is None or incoming == 0 or current == 0 or incoming >= current


def _pack(body: Body) -> bytes:
    # orjson's buffer grows in steps and is not shrunk (a 4.5 KB Deployment holds 8 KiB):
    # an exact-size copy is kept instead.
    return memoryview(orjson.dumps(body)).tobytes()


class Packed(NamedTuple):
    """A child body as the store keeps it: its JSON, and its resourceVersion."""

    rv: int
    raw: bytes

    def body(self) -> Body:
        decoded: Body = orjson.loads(self.raw)
        return decoded


def without_managed_fields(body: Body) -> Body:
    """The body without metadata.managedFields: no decision reads them, and at fleet scale
    they are a large share of what the caches would hold (a copy; the caller's body stays)."""
    meta = body.get("metadata")
    if not meta or "managedFields" not in meta:
        return body
    return {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


@dataclass
class Store:
    """Latest bodies from the watches, indexed the way reconciles look them up."""

    parents: dict[str, dict[Key, Body]] = field(default_factory=dict)
    # children[child_kind][(namespace, parent_name)][child_name] = the body, packed; read
    # them with child() and children_of()
    children: dict[str, dict[Key, dict[str, Packed]]] = field(default_factory=dict)
    # What is kept of a child body, by child kind: one place for watch events and for the
    # results of our own writes alike.
    trim: Callable[[str, Body], Body] = lambda kind, body: body
    # Optional child kinds the API server does not serve (a CRD not installed), as the
    # informers last found them.
    unserved: set[str] = field(default_factory=set)
    # What a parent's spec reads, by parent kind (an MCPServer: the ConfigMaps and Secrets
    # its pods read). Indexed as parents come and go, so that a ConfigMap or Secret event
    # finds its readers directly: a scan of every parent per event is quadratic in a fleet
    # (each MCPServer's own session-key Secret is such an event).
    reads: Callable[[str, Body], Iterable[Ref]] = lambda kind, body: ()
    _readers: dict[tuple[str, str, str, str], set[Key]] = field(default_factory=dict)
    _reading: dict[tuple[str, Key], frozenset[Ref]] = field(default_factory=dict)

    def put_parent(self, kind: str, body: Body) -> Key:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        bucket = self.parents.setdefault(kind, {})
        current = bucket.get(key)
        if newer(_rv(body), None if current is None else _rv(current)):
            bucket[key] = without_managed_fields(body)
            self._index(kind, key, frozenset(self.reads(kind, body)))
        return key

    def drop_parent(self, kind: str, key: Key) -> None:
        self.parents.get(kind, {}).pop(key, None)
        self._index(kind, key, frozenset())

    def _index(self, kind: str, key: Key, now: frozenset[Ref]) -> None:
        before = self._reading.pop((kind, key), frozenset())
        if now:
            self._reading[(kind, key)] = now
        for ref_kind, name in before - now:
            group = self._readers.get((kind, key[0], ref_kind, name))
            if group is not None:
                group.discard(key)
                if not group:
                    del self._readers[(kind, key[0], ref_kind, name)]
        for ref_kind, name in now - before:
            self._readers.setdefault((kind, key[0], ref_kind, name), set()).add(key)

    def reading(self, kind: str, key: Key) -> frozenset[Ref]:
        """What the parent's spec reads, as indexed when it was filed."""
        return self._reading.get((kind, key), frozenset())

    def readers(self, kind: str, namespace: str, ref: Ref) -> list[Key]:
        """The parents of `kind` in `namespace` whose spec reads `ref`, sorted."""
        return sorted(self._readers.get((kind, namespace, *ref), ()))

    def parent(self, kind: str, key: Key) -> Body | None:
        return self.parents.get(kind, {}).get(key)

    def put_child(self, kind: str, parent: Key, body: Body) -> None:
        group = self.children.setdefault(kind, {}).setdefault(parent, {})
        name = body["metadata"]["name"]
        current = group.get(name)
        rv = _rv(body)
        if newer(rv, None if current is None else current.rv):
            group[name] = Packed(rv, _pack(without_managed_fields(self.trim(kind, body))))

    def drop_child(self, kind: str, parent: Key, name: str) -> None:
        group = self.children.get(kind, {}).get(parent)
        if group is not None:
            group.pop(name, None)
            if not group:
                self.children[kind].pop(parent, None)

    def child(self, kind: str, parent: Key, name: str) -> Body | None:
        packed = self.children.get(kind, {}).get(parent, {}).get(name)
        return None if packed is None else packed.body()

    def has_children(self, kind: str, parent: Key) -> bool:
        return bool(self.children.get(kind, {}).get(parent))

    def children_of(self, kind: str, parent: Key) -> dict[str, Body]:
        """The children of one kind of a parent, decoded (a fresh copy: the caller may
        change it)."""
        return {n: p.body() for n, p in self.children.get(kind, {}).get(parent, {}).items()}
