"""Where the operator's credentials come from, read again whenever they stop working.

The operator logs in the way Kopf does (its own login functions): as the pod's
ServiceAccount (the projected token file, which the kubelet rotates), else from the
kubeconfig ($KUBECONFIG or ~/.kube/config). Kopf re-runs its login handler when its own
requests get 401; the operator's client (client.Client) calls `login()` again on a 401
in the same way, so a rotated token, or a kubeconfig refreshed behind the process, is
picked up without a restart.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import kopf

from mcpops.machinery.client import Credentials


class LoginError(Exception):
    """No credentials at all: neither in a pod nor a kubeconfig."""


def login(settings: kopf.OperatorSettings | None = None) -> Credentials:
    """Credentials as of now: the pod's ServiceAccount, else the kubeconfig."""
    info = kopf_connection(settings)
    if info is None:
        raise LoginError("no Kubernetes credentials (no kubeconfig, not in a pod)")
    return credentials_from_kopf(info)


def kopf_connection(settings: kopf.OperatorSettings | None = None) -> Any:
    """kopf.ConnectionInfo from the ServiceAccount, else the kubeconfig (None: neither)."""
    settings = settings or kopf.OperatorSettings()
    return kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )


def _data(value: str | bytes | None) -> bytes | None:
    """PEM bytes from a kubeconfig's *-data field (base64 of PEM, or PEM itself)."""
    if not value:
        return None
    raw = value if isinstance(value, bytes) else value.encode()
    if raw.lstrip().startswith(b"-----"):
        return raw
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw


def credentials_from_kopf(info: Any) -> Credentials:
    """Credentials from a kopf.ConnectionInfo. Key material given inline stays in memory
    (client.Credentials loads it without leaving files behind)."""
    return Credentials(
        server=info.server,
        token=info.token,
        ca_path=str(info.ca_path) if info.ca_path else None,
        ca_data=_data(info.ca_data),
        insecure=bool(info.insecure),
        cert_path=str(info.certificate_path) if info.certificate_path else None,
        cert_data=_data(info.certificate_data),
        key_path=str(info.private_key_path) if info.private_key_path else None,
        key_data=_data(info.private_key_data),
    )
