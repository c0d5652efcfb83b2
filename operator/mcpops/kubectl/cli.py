"""`kubectl mcpops ...` (installed as `kubectl-mcpops`; kubectl finds it on PATH).

Every write is one merge patch a person could make with `kubectl annotate` or
`kubectl patch`; --dry-run prints it instead of sending it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mcpops.api import GROUP, VERSION
from mcpops.api.kinds import KINDS
from mcpops.api.updates import HOLD_ANNOTATION, PIN_ANNOTATION
from mcpops.kubectl import views
from mcpops.kubectl.rollback import RollbackError, images_of, rollback_spec, spec_patch
from mcpops.objects.bodies import Body
from mcpops_common.names import (
    ABORT_ANNOTATION,
    ACK_ANNOTATION,
    CANCEL_ANNOTATION,
    PROMOTE_ANNOTATION,
    RETRY_ANNOTATION,
    REVISION_LABEL,
    RUN_NOW_ANNOTATION,
    SERVER_LABEL,
)
from mcpops_common.results import merge_solution_parts

PLURALS = {k.kind: k.plural for k in KINDS}


class PluginError(Exception):
    """A failure to report as `error: ...` with exit code 1."""


class Kube:
    """The few reads and writes the plugin makes, with the kubernetes client (sync)."""

    def __init__(self, kubeconfig: str | None, context: str | None) -> None:
        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        # Partly typed upstream: used as Any here, the results are plain dicts and lists.
        client: Any = kclient
        config: Any = kconfig
        try:
            self.api = config.new_client_from_config(config_file=kubeconfig, context=context)
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
            chosen = next((c for c in contexts if c["name"] == context), active) or {}
            self.namespace = (chosen.get("context") or {}).get("namespace") or "default"
        except config.ConfigException:
            config.load_incluster_config()
            self.api = client.ApiClient()
            with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
                self.namespace = f.read().strip()
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.errors: tuple[type[Exception], ...] = (client.ApiException,)

    def _dict(self, obj: Any) -> Body:
        data: Body = self.api.sanitize_for_serialization(obj)
        return data

    def list_kind(self, kind: str, namespace: str | None) -> list[Body]:
        res: Body
        if namespace is None:
            res = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURALS[kind])
        else:
            res = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS[kind]
            )
        items: list[Body] = res.get("items") or []
        return sorted(items, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    def get(self, kind: str, namespace: str, name: str) -> Body:
        obj: Body = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[kind], name
        )
        return obj

    def patch(self, kind: str, namespace: str, name: str, body: Body) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[kind], name, body
        )

    def deployments(self, namespace: str, selector: str) -> list[Body]:
        res = self.apps.list_namespaced_deployment(namespace, label_selector=selector)
        return [self._dict(d) for d in res.items]

    def configmap(self, namespace: str, name: str) -> Body:
        return self._dict(self.core.read_namespaced_config_map(name, namespace))

    def pods(self, namespace: str, selector: str) -> list[Body]:
        res = self.core.list_namespaced_pod(namespace, label_selector=selector)
        return [self._dict(p) for p in res.items]

    def pod_log(self, namespace: str, pod: str, container: str, tail: int | None) -> str:
        text: str = self.core.read_namespaced_pod_log(
            pod, namespace, container=container, tail_lines=tail
        )
        return text


def token() -> str:
    """A new value for abort/retry: the operator acts once per distinct value."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def annotate(key: str, value: str) -> Body:
    return {"metadata": {"annotations": {key: value}}}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kubectl mcpops",
        description="Read and steer mcpops resources: a thin layer over the annotations "
        "and fields you could set with kubectl annotate / kubectl patch.",
    )
    p.add_argument("--kubeconfig", help="path to the kubeconfig (default: $KUBECONFIG, ~/.kube)")
    p.add_argument("--context", help="the kubeconfig context to use")
    p.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("status", help="the fleet: MCPServers, OptimizationJobs, CleanupPolicies")
    s.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")

    # The commands that write: each takes the object's name and --dry-run.
    writers = {
        "promote": f"switch traffic to a tested candidate ({PROMOTE_ANNOTATION})",
        "abort": f"stop the running rollout ({ABORT_ANNOTATION})",
        "retry": f"try the failed revision again ({RETRY_ANNOTATION})",
        "rollback": "serve an earlier revision again (patches spec back to it)",
        "acknowledge": f"let a CleanupPolicy held by its breaker run ({ACK_ANNOTATION})",
        "run-now": f"run a CleanupPolicy now ({RUN_NOW_ANNOTATION})",
        "hold": f"stop rolling out new versions found by spec.updates ({HOLD_ANNOTATION})",
        "resume": "let spec.updates roll out new versions again",
        "pin": f"run this version, whatever spec.updates finds ({PIN_ANNOTATION})",
        "unpin": "let spec.updates choose the version again",
    }
    for command, help_ in writers.items():
        s = sub.add_parser(command, help=help_)
        s.add_argument("name")
        s.add_argument("--dry-run", action="store_true", help="print the patch, send nothing")
        if command == "promote":
            s.add_argument("--revision", help="the revision to promote (default: the candidate)")
        elif command == "pin":
            s.add_argument("version", help="a tag or package version (e.g. 1.4.0)")
        elif command == "rollback":
            s.add_argument(
                "--to-revision", required=True, metavar="REV", help="a revision of the server"
            )

    s = sub.add_parser("tests", help="the last test results of an MCPServer")
    s.add_argument("name")

    s = sub.add_parser("result", help="an OptimizationJob's outcome and solution")
    s.add_argument("name")
    s.add_argument("-o", "--output", choices=["text", "json"], default="text")

    s = sub.add_parser(
        "cancel",
        help=f"stop an OptimizationJob, keeping its best solution so far ({CANCEL_ANNOTATION})",
    )
    s.add_argument("name")
    s.add_argument("--dry-run", action="store_true", help="print the patch, send nothing")

    s = sub.add_parser(
        "logs",
        help="an OptimizationJob's solver log: progress lines and the solver's own output",
    )
    s.add_argument("name")
    s.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    s.add_argument(
        "--raw", action="store_true", help="the JSON lines as the pod wrote them (one per line)"
    )
    return p


def write(kube: Kube, kind: str, ns: str, name: str, body: Body, dry_run: bool) -> str:
    """Send one merge patch (or show it); returns the equivalent kubectl command."""
    text = json.dumps(body, separators=(",", ":"))
    shown = f"kubectl patch {kind.lower()} {name} -n {ns} --type=merge -p '{text}'"
    if not dry_run:
        kube.patch(kind, ns, name, body)
    return shown


def cmd_status(kube: Kube, ns: str | None) -> str:
    servers = kube.list_kind("MCPServer", ns)
    jobs = kube.list_kind("OptimizationJob", ns)
    try:
        policies: list[Body] | None = kube.list_kind("CleanupPolicy", ns)
    except kube.errors as exc:
        if getattr(exc, "status", None) != 404:
            raise
        policies = None  # the CleanupPolicy CRD is not installed
    return views.fleet(servers, jobs, policies, all_namespaces=ns is None)


def promote_patch(server: Body, revision: str | None) -> tuple[Body, str]:
    """(patch, note) to promote; the operator switches when that revision's tests passed."""
    st = server.get("status") or {}
    rev = revision or st.get("candidateRevision")
    name = server["metadata"]["name"]
    if not rev:
        raise PluginError(f"{name} has no candidate revision to promote (phase {st.get('phase')})")
    if rev == st.get("activeRevision"):
        raise PluginError(f"revision {rev} already serves {name}")
    auto = ((server.get("spec") or {}).get("rollout") or {}).get("autoPromote", True)
    note = "traffic switches as soon as its tests have passed"
    if st.get("phase") == "Promoting" and st.get("candidateRevision") == rev:
        note = "its tests passed: traffic switches now"
    if auto:
        note += " (autoPromote is on: it would switch anyway)"
    return annotate(PROMOTE_ANNOTATION, rev), f"promote {rev}: {note}"


def _status_revision(server: Body, field: str, missing: str) -> str:
    """status.<field> of the server, or a PluginError saying it has no `missing`."""
    st = server.get("status") or {}
    rev = st.get(field)
    if not rev:
        name = server["metadata"]["name"]
        raise PluginError(f"{name} has no {missing} (phase {st.get('phase')})")
    return str(rev)


def abort_patch(server: Body, value: str) -> tuple[Body, str]:
    cand = _status_revision(server, "candidateRevision", "rollout to abort")
    active = (server.get("status") or {}).get("activeRevision") or "nothing"
    return annotate(
        ABORT_ANNOTATION, value
    ), f"abort the rollout of {cand}; traffic stays on {active}"


def retry_patch(server: Body, value: str) -> tuple[Body, str]:
    failed = _status_revision(server, "failedRevision", "failed revision to retry")
    return annotate(RETRY_ANNOTATION, value), f"retry revision {failed}"


def updates_patch(command: str, server: Body, version: str | None) -> tuple[Body, str]:
    """hold/resume/pin/unpin: the annotations spec.updates reads."""
    if (server.get("spec") or {}).get("updates") is None:
        raise PluginError(f"{server['metadata']['name']} has no spec.updates: nothing to steer")
    current = ((server.get("status") or {}).get("updates") or {}).get("current") or "?"
    if command == "hold":
        return annotate(HOLD_ANNOTATION, "true"), f"hold updates (serving {current})"
    if command == "pin":
        return annotate(PIN_ANNOTATION, version or ""), f"pin to {version} (serving {current})"
    key = HOLD_ANNOTATION if command == "resume" else PIN_ANNOTATION
    return {"metadata": {"annotations": {key: None}}}, f"{command} updates (serving {current})"


def acknowledge_patch(policy: Body) -> tuple[Body, str]:
    """Acknowledge exactly the block the policy reports (its token names time and size)."""
    st = policy.get("status") or {}
    name = policy["metadata"]["name"]
    blocked = views.condition(policy, "Blocked")
    token_ = (st.get("breaker") or {}).get("token")
    if blocked.get("status") != "True" or not token_:
        raise PluginError(f"{name} is not held by its circuit breaker: nothing to acknowledge")
    return annotate(ACK_ANNOTATION, token_), f"acknowledge the block {token_}: {blocked['message']}"


def cmd_rollback(kube: Kube, ns: str, name: str, revision: str, dry_run: bool) -> str:
    server = kube.get("MCPServer", ns, name)
    st = server.get("status") or {}
    if revision == st.get("activeRevision") and not st.get("candidateRevision"):
        return f"revision {revision} already serves {name}: nothing to do\n"
    deps = kube.deployments(ns, f"{SERVER_LABEL}={name}")
    mine = [d for d in deps if d["metadata"].get("labels", {}).get(REVISION_LABEL) == revision]
    hint = next((i for d in deps if (i := images_of(d["spec"]["template"]))), None)
    try:
        spec, how = rollback_spec(server, revision, mine[0] if mine else None, hint)
    except RollbackError as exc:
        raise PluginError(str(exc)) from exc
    body = spec_patch(server.get("spec") or {}, spec)
    shown = write(kube, "MCPServer", ns, name, body, dry_run)
    lines = [
        f"rollback {name} to revision {revision} (spec from {how})"
        + (f", reusing Deployment {name}-{revision}" if mine else ""),
        shown,
    ]
    if revision == st.get("failedRevision"):
        lines.append(
            f"note: {revision} is the failed revision; it is not retried until "
            f"`kubectl mcpops retry {name}`"
        )
    lines.append(
        "note: this changes spec; if Git (Argo CD) owns this MCPServer, make the same change "
        "there or the next sync undoes it"
    )
    return "\n".join(lines) + "\n"


def cmd_result(kube: Kube, ns: str, name: str, output: str) -> str:
    job = kube.get("OptimizationJob", ns, name)
    st = job.get("status") or {}
    solution = None
    if st.get("resultConfigMap") and st.get("phase") in {"Succeeded", "Cancelled"}:
        names = [st["resultConfigMap"], *(st.get("resultParts") or [])]
        configmaps = [kube.configmap(ns, n) for n in names]
        if any("solution.json" in (cm.get("data") or {}) for cm in configmaps):
            solution = merge_solution_parts(configmaps)
    if output == "json":
        doc = {"name": name, "namespace": ns, "status": st, "solution": solution}
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return views.result(job, solution)


def cmd_logs(kube: Kube, ns: str, name: str, tail: int | None, raw: bool) -> str:
    """The newest solver pod's log (all of a sweep's pods: `kubectl logs -l ...`)."""
    job = kube.get("OptimizationJob", ns, name)
    job_name = (job.get("status") or {}).get("job")
    if not job_name:
        phase = (job.get("status") or {}).get("phase") or "new"
        raise PluginError(f"{name} has no solver Job yet (phase {phase})")
    pods = kube.pods(ns, f"job-name={job_name}")
    if not pods:
        raise PluginError(f"no solver pod of Job {job_name} (gone after ttlSecondsAfterFinished?)")
    newest = max(pods, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""))
    text = kube.pod_log(ns, newest["metadata"]["name"], "solver", tail)
    return text if raw else views.solver_log(text)


def run(args: argparse.Namespace, kube: Kube) -> str:
    ns = args.namespace or kube.namespace
    if args.command == "logs":
        return cmd_logs(kube, ns, args.name, args.tail, args.raw)
    if args.command == "cancel":
        body = annotate(CANCEL_ANNOTATION, "true")
        shown = write(kube, "OptimizationJob", ns, args.name, body, args.dry_run)
        return (
            f"{args.name}: cancel requested; the solver stops and keeps its best solution "
            f"so far (phase Cancelled)\n{shown}\n"
        )
    if args.command == "status":
        return cmd_status(kube, None if args.all_namespaces else ns)
    if args.command == "tests":
        return views.tests(kube.get("MCPServer", ns, args.name))
    if args.command == "result":
        return cmd_result(kube, ns, args.name, args.output)
    if args.command == "rollback":
        return cmd_rollback(kube, ns, args.name, args.to_revision, args.dry_run)
    if args.command in {"acknowledge", "run-now"}:
        policy = kube.get("CleanupPolicy", ns, args.name)
        if args.command == "acknowledge":
            body, note = acknowledge_patch(policy)
        else:
            value = token()
            body, note = annotate(RUN_NOW_ANNOTATION, value), f"run now ({value})"
        shown = write(kube, "CleanupPolicy", ns, args.name, body, args.dry_run)
        return f"{args.name}: {note}\n{shown}\n"
    server = kube.get("MCPServer", ns, args.name)
    if args.command in {"hold", "resume", "pin", "unpin"}:
        body, note = updates_patch(args.command, server, getattr(args, "version", None))
    elif args.command == "promote":
        body, note = promote_patch(server, args.revision)
    elif args.command == "abort":
        body, note = abort_patch(server, token())
    else:
        body, note = retry_patch(server, token())
    shown = write(kube, "MCPServer", ns, args.name, body, args.dry_run)
    return f"{args.name}: {note}\n{shown}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        kube = Kube(args.kubeconfig, args.context)
        sys.stdout.write(run(args, kube))
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from kubernetes.client import ApiException
        from kubernetes.config import ConfigException

        if isinstance(exc, ApiException):
            reason = exc.reason
            with contextlib.suppress(ValueError):
                reason = json.loads(exc.body or "{}").get("message") or reason
            print(f"error: {reason} ({exc.status})", file=sys.stderr)
            return 1
        if isinstance(exc, ConfigException | OSError):
            print(f"error: no usable kubeconfig: {exc}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
