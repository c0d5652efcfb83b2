"""Write result ConfigMaps through the Kubernetes API (in-cluster service account).

The solver pod's service account needs, in its namespace, ``create``, ``get``
and ``update`` on ``configmaps`` (``update`` when a retried pod finds its
ConfigMaps already there), and ``list`` and ``delete`` on ``configmaps`` to
remove solution parts left by an earlier attempt of the same scenario (skipped
with a warning when not allowed).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcpops_common.names import OPTJOB_LABEL, RESULT_ROLE_LABEL, SCENARIO_INDEX_LABEL
from mcpops_solver.logs import get_logger

__all__ = [
    "WriteError",
    "in_cluster_namespace",
    "put_configmap",
    "write_configmap_files",
    "write_configmaps",
]

SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
log = get_logger("mcpops_solver.kube")


class WriteError(Exception):
    """The results could not be written."""


def in_cluster_namespace() -> str | None:
    try:
        return SA_NAMESPACE.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def write_configmap_files(manifests: Sequence[dict[str, Any]], directory: str) -> list[Path]:
    """Write each manifest as ``<directory>/<name>.json`` (usable with kubectl apply -f)."""
    import json

    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for m in manifests:
            path = out / f"{m['metadata']['name']}.json"
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(m, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            tmp.replace(path)
            paths.append(path)
        return paths
    except OSError as exc:
        raise WriteError(f"cannot write results to {directory}: {exc.strerror or exc}") from exc


def _api() -> Any:
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException

    config: Any = importlib.import_module("kubernetes.config")
    try:
        config.load_incluster_config()
    except ConfigException:
        try:
            config.load_kube_config()
        except (ConfigException, OSError) as exc:
            raise WriteError(
                f"no Kubernetes credentials (in-cluster or kubeconfig): {exc}"
            ) from exc
    return client.CoreV1Api()


def _retrying(what: str, fn: Any, *args: Any, attempts: int = 5, **kwargs: Any) -> Any:
    from kubernetes.client.exceptions import ApiException

    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return fn(*args, _request_timeout=30, **kwargs)
        except ApiException as exc:
            transient = exc.status in {429, 500, 502, 503, 504}
            if not transient or attempt == attempts:
                raise
            log.warning("kubernetes API error, retrying", what=what, status=exc.status)
        except OSError as exc:  # connection errors (urllib3 wraps them in OSError subclasses)
            if attempt == attempts:
                raise WriteError(f"{what}: {exc}") from exc
            log.warning("kubernetes API unreachable, retrying", what=what, error=str(exc))
        time.sleep(delay)
        delay = min(delay * 2, 8.0)
    raise WriteError(f"{what}: gave up")  # pragma: no cover


def write_configmaps(manifests: Sequence[dict[str, Any]], namespace: str) -> None:
    """Create or replace the ConfigMaps, then delete stale parts of the same result."""
    api = _api()
    for m in manifests:
        _put(api, m, namespace)
        log.info("result ConfigMap written", configmap=m["metadata"]["name"])
    _delete_stale_parts(api, manifests, namespace)


_API: Any = None


def put_configmap(manifest: dict[str, Any], namespace: str) -> None:
    """Create or replace one ConfigMap (the progress ConfigMap, every few seconds: the
    client is kept)."""
    global _API
    if _API is None:
        _API = _api()
    _put(_API, manifest, namespace, attempts=2)


def _put(api: Any, m: dict[str, Any], namespace: str, attempts: int = 5) -> None:
    from kubernetes.client.exceptions import ApiException

    name = m["metadata"]["name"]
    try:
        try:
            _retrying(
                f"create {name}", api.create_namespaced_config_map, namespace, m, attempts=attempts
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
            _retrying(
                f"replace {name}",
                api.replace_namespaced_config_map,
                name,
                namespace,
                m,
                attempts=attempts,
            )
    except ApiException as exc:
        reason = exc.reason or ""
        raise WriteError(
            f"cannot write ConfigMap {namespace}/{name}: HTTP {exc.status} {reason}".strip()
        ) from exc


def _delete_stale_parts(api: Any, manifests: Sequence[dict[str, Any]], namespace: str) -> None:
    from kubernetes.client.exceptions import ApiException

    labels = manifests[0]["metadata"]["labels"]
    selector = f"{OPTJOB_LABEL}={labels[OPTJOB_LABEL]},{RESULT_ROLE_LABEL}=part"
    if SCENARIO_INDEX_LABEL in labels:
        selector += f",{SCENARIO_INDEX_LABEL}={labels[SCENARIO_INDEX_LABEL]}"
    else:
        selector += f",!{SCENARIO_INDEX_LABEL}"
    keep = {m["metadata"]["name"] for m in manifests}
    base = manifests[0]["metadata"]["name"]
    try:
        found = _retrying(
            "list parts", api.list_namespaced_config_map, namespace, label_selector=selector
        )
        for item in found.items:
            name = item.metadata.name
            if name in keep or not name.startswith(f"{base}-part-"):
                continue
            _retrying(f"delete {name}", api.delete_namespaced_config_map, name, namespace)
            log.info("stale solution part deleted", configmap=name)
    except (ApiException, WriteError) as exc:
        log.warning("could not clean up stale solution parts", error=str(exc))
