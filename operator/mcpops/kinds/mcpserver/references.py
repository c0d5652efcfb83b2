"""The ConfigMaps and Secrets an MCPServer's pods read, and what their content adds to the
revision. Pure.

A revision is what runs: the pod template and the content of every ConfigMap and Secret it
reads (env valueFrom, envFrom, volumes, projected volumes). A changed Secret thus makes a
new revision that goes through blue-green and its tests like a new image. Only a hash of
the data is kept (computed as a watch event arrives, see `trim`); values never reach the
store, status, logs or Events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mcpops.objects.bodies import Body
from mcpops.objects.children import digest

CONFIG_KINDS = ("ConfigMap", "Secret")
DATA_HASH = "dataHash"  # the only trace of a ConfigMap's or Secret's content in the store


@dataclass(frozen=True)
class Ref:
    """One place in the spec that reads a ConfigMap or Secret."""

    kind: str  # ConfigMap or Secret
    name: str
    field: str  # where in the spec, e.g. spec.env[0].valueFrom.secretKeyRef
    optional: bool


def _ref(kind: str, ref: Any, field: str, name_key: str = "name") -> Iterator[Ref]:
    """The reference at `field`, if it is one (the raw spec of a routed event may be
    anything a person wrote: what is not a reference is skipped, never an error)."""
    if isinstance(ref, dict) and isinstance(ref.get(name_key), str):
        yield Ref(kind, ref[name_key], field, bool(ref.get("optional")))


def _items(node: Any, key: str) -> list[Any]:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, list) else []


def _env(spec: dict[str, Any]) -> Iterator[Ref]:
    for i, var in enumerate(_items(spec, "env")):
        source = var.get("valueFrom") if isinstance(var, dict) else None
        for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if isinstance(source, dict):
                yield from _ref(kind, source.get(key), f"spec.env[{i}].valueFrom.{key}")
    for i, source in enumerate(_items(spec, "envFrom")):
        for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            if isinstance(source, dict):
                yield from _ref(kind, source.get(key), f"spec.envFrom[{i}].{key}")


def _volumes(spec: dict[str, Any]) -> Iterator[Ref]:
    for i, volume in enumerate(_items(spec, "volumes")):
        if not isinstance(volume, dict):
            continue
        where = f"spec.volumes[{i}]"
        yield from _ref("ConfigMap", volume.get("configMap"), f"{where}.configMap")
        yield from _ref("Secret", volume.get("secret"), f"{where}.secret", "secretName")
        for j, source in enumerate(_items(volume.get("projected"), "sources")):
            for key, kind in (("secret", "Secret"), ("configMap", "ConfigMap")):
                if isinstance(source, dict):
                    field = f"{where}.projected.sources[{j}].{key}"
                    yield from _ref(kind, source.get(key), field)


def references(spec: dict[str, Any]) -> list[Ref]:
    """Every reference in a spec (as on the wire), in spec order."""
    return [*_env(spec), *_volumes(spec)]


def names(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of everything the spec reads: which MCPServers a change wakes."""
    return {(r.kind, r.name) for r in references(spec)}


@dataclass(frozen=True)
class Resolution:
    """What the references resolved to: the objects found, those missing, and the hash
    their content adds to the revision."""

    found: list[tuple[str, str, str]]  # (kind, name, resourceVersion), sorted
    missing: list[Ref]  # required and not there
    hash: str | None  # None: the spec reads no ConfigMap or Secret

    @property
    def waiting(self) -> str:
        """Why the spec's revision cannot be made yet ('' when it can)."""
        return "; ".join(f"{r.kind} {r.name} ({r.field}) does not exist" for r in self.missing)

    def status(self) -> list[dict[str, str]]:
        return [{"kind": k, "name": n, "resourceVersion": rv} for k, n, rv in self.found]


def resolve(refs: list[Ref], configs: dict[tuple[str, str], Body]) -> Resolution:
    """The references against the ConfigMaps and Secrets the watch caches hold (by kind and
    name, in the MCPServer's namespace). An optional one that is missing counts as absent
    content: its appearing later makes a new revision, as the kubelet would then mount it."""
    if not refs:
        return Resolution([], [], None)
    found: dict[tuple[str, str], Body] = {}
    missing: list[Ref] = []
    content: dict[str, str] = {}
    for ref in refs:
        key = (ref.kind, ref.name)
        body = configs.get(key)
        if body is not None:
            found[key] = body
            content[f"{ref.kind}/{ref.name}"] = str(body.get(DATA_HASH, ""))
        elif ref.optional:
            content.setdefault(f"{ref.kind}/{ref.name}", "absent")
        else:
            missing.append(ref)
    listed = sorted(
        (kind, name, str(body["metadata"].get("resourceVersion", "")))
        for (kind, name), body in found.items()
    )
    return Resolution(listed, missing, digest(content, 16))


def data_hash(body: Body) -> str:
    """A hash of a ConfigMap's or Secret's content (data, binaryData, stringData)."""
    content = {k: body.get(k) or {} for k in ("data", "binaryData", "stringData")}
    raw = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()


def trim(kind: str, body: Body) -> Body:
    """What the store keeps of a ConfigMap or Secret: its identity and a hash of its data."""
    meta = body.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "resourceVersion", "uid") if k in meta
        },
        DATA_HASH: data_hash(body),
    }
