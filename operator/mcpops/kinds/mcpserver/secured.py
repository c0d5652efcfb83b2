"""The reconcile step of spec.auth (security.py renders the proxy's settings): the test
Jobs' ServiceAccount, and one Warning Event when a server becomes open to the cluster.
Pure."""

from __future__ import annotations

from mcpops.kinds.mcpserver import security
from mcpops.kinds.mcpserver.children import apply
from mcpops.kinds.mcpserver.desired import TEST_COMPONENT
from mcpops.kinds.mcpserver.state import Inputs, Plan, State
from mcpops.objects.bodies import Body, Manifest
from mcpops.objects.children import child_meta, labels, stamp
from mcpops.objects.effects import Delete
from mcpops_common.names import SERVER_LABEL


def test_service_account(parent: Body) -> Manifest:
    """The identity of the server's test Jobs: no RBAC, no mounted token; its projected
    token (audience: the server's) is what the proxy's first rule lets in."""
    name = parent["metadata"]["name"]
    return stamp(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": child_meta(
                parent,
                security.test_account(name),
                labels(TEST_COMPONENT, name, **{SERVER_LABEL: name}),
            ),
            "automountServiceAccountToken": False,
        }
    )


def _was(server: Body) -> str | None:
    """The reason of the Secured condition the last status carried."""
    for c in (server.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == security.CONDITION:
            return str(c.get("reason") or "")
    return None


def secure(st: State, inp: Inputs, out: Plan) -> None:
    """The ServiceAccount while tokens are required (removed otherwise); an Event when the
    server is found open (once: when the condition first says so)."""
    found = inp.observed.service_accounts
    keep = security.test_account(inp.name) if security.requires_token(inp.spec) else None
    if keep is not None:
        apply(out, test_service_account(inp.server), found.get(keep))
    for name, body in found.items():
        if name != keep:
            out.delete.append(Delete("v1", "ServiceAccount", name, body["metadata"]["uid"]))
    now = security.condition(inp.spec, inp.namespace, inp.name)
    if now.reason == "OpenToCluster" and _was(inp.server) != now.reason:
        out.event("Warning", "OpenToCluster", now.message)
