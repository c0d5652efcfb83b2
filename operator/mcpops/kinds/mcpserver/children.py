"""The children a rollout's state asks for: which Deployments run and which are scaled
down or deleted, the test Jobs, the Services and the autoscaler. Pure: manifests to
apply and objects to delete go into the Plan; the live objects decide what is skipped
(a child already as wanted is not written again).
"""

from __future__ import annotations

from collections.abc import Callable

from mcpops.kinds.mcpserver import desired
from mcpops.kinds.mcpserver.observed import finished
from mcpops.kinds.mcpserver.rollout import abort_window, cancel, candidate_size
from mcpops.kinds.mcpserver.state import Inputs, Plan, State
from mcpops.objects.bodies import Body, Manifest, Revision
from mcpops.objects.children import stamp, up_to_date
from mcpops.objects.effects import Delete
from mcpops_common.names import REVISION_LABEL, SCALED_BY_ANNOTATION

Step = Callable[[State, Inputs, Plan], None]


def apply(out: Plan, manifest: Manifest, live: Body | None) -> None:
    if up_to_date(manifest, live):
        out.skipped_writes += 1
        return
    out.apply.append(manifest)


def _running(st: State, inp: Inputs) -> list[Revision]:
    """The serving revision, the candidate, the previous one (in its window) and a failed
    one within rollout.abortScaleDownDelaySeconds."""
    failed = st.failed if abort_window(st, inp) > 0 else None
    running = (st.active, st.candidate, st.previous, failed, st.restoring)
    return list(dict.fromkeys(r for r in running if r))


def run(st: State, inp: Inputs, out: Plan) -> None:
    """Deployments of the running revisions, at the wanted size."""
    record = desired.spec_record(inp.spec, inp.image, inp.proxy_image)
    window = abort_window(st, inp)
    if window > 0:
        out.wakeups.append(window)
    for rev in _running(st, inp):
        live = inp.deployment(rev)
        if rev == inp.revision:
            size = candidate_size(st, inp) if rev == st.candidate else inp.want
            manifest = desired.deployment(inp.server, inp.template, rev, size, record=record)
        elif live is not None:
            # Another revision keeps its own pod template: rebuilt from the live object. The
            # previous one keeps its size (the HPA may have set it), as does a failed one
            # kept up to inspect.
            size = _replicas(live, inp.want) if rev in (st.previous, st.failed) else inp.want
            manifest = desired.rescaled(live, size)
        else:
            continue
        if rev == st.active and inp.spec.autoscaling:
            _hand_over(out, manifest, live)
        apply(out, manifest, live)


def _hand_over(out: Plan, manifest: Manifest, live: Body | None) -> None:
    """The HPA owns the serving revision's replicas: left out of the manifest. The first
    time, another field manager takes them at their current value, else leaving them out
    would reset them to 1 (a scaled-out revision would shrink at the switch)."""
    replicas = manifest["spec"].pop("replicas", None)
    manifest["metadata"].setdefault("annotations", {})[SCALED_BY_ANNOTATION] = "autoscaler"
    live_notes = ((live or {}).get("metadata") or {}).get("annotations") or {}
    if live is not None and SCALED_BY_ANNOTATION not in live_notes:
        meta = manifest["metadata"]
        out.handover.append(
            {
                "apiVersion": manifest["apiVersion"],
                "kind": manifest["kind"],
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "spec": {"replicas": int((live.get("spec") or {}).get("replicas", replicas or 1))},
            }
        )
    stamp(manifest)


def scale_down(st: State, inp: Inputs, out: Plan) -> None:
    """Revisions no longer running: kept at zero up to revisionHistoryLimit (and the failed
    one, to inspect), deleted beyond it; the history keeps what is kept."""
    running = _running(st, inp)
    inactive = [r for r in st.history.revisions() if r not in running]
    kept = set(inactive[: inp.cfg.revision_history_limit])
    for rev, dep in inp.observed.deployments.items():
        if rev in running:
            continue
        if rev in kept or rev == st.failed:
            if (dep.get("spec") or {}).get("replicas", 0) != 0:
                apply(out, desired.rescaled(dep, 0), dep)
                out.event("Normal", "ScaledDown", f"revision {rev} scaled to zero")
        else:
            meta = dep["metadata"]
            out.delete.append(Delete("apps/v1", "Deployment", meta["name"], meta["uid"]))
            out.event("Normal", "RevisionDeleted", f"revision {rev} beyond the history limit")
    st.history.keep_only({*running, *kept, *([st.failed] if st.failed else [])})


def test_jobs(st: State, inp: Inputs, out: Plan) -> None:
    """Create the Jobs the candidate still needs; cancel those of superseded revisions."""
    out.apply.extend(st.jobs)
    wanted = {st.candidate, st.failed, st.active}
    for job in inp.observed.jobs.values():
        revision = (job["metadata"].get("labels") or {}).get(REVISION_LABEL)
        if revision not in wanted and not finished(job):
            cancel(out, job)


def services(st: State, inp: Inputs, out: Plan) -> None:
    """The stable Service to the serving revision (nothing before the first switch), the
    preview to the candidate (else the serving one)."""
    services = inp.observed.services
    stable = desired.service(inp.server, inp.spec, name=inp.name, revision=st.active, role="active")
    apply(out, stable, services.get(inp.name))
    preview = desired.service(
        inp.server,
        inp.spec,
        name=inp.preview_name,
        revision=st.candidate or st.active,
        role="preview",
    )
    apply(out, preview, services.get(inp.preview_name))


def autoscaler(st: State, inp: Inputs, out: Plan) -> None:
    """The HPA follows the serving revision; it goes when autoscaling is turned off."""
    name = inp.name
    if inp.spec.autoscaling and st.active:
        hpa = desired.hpa(inp.server, inp.spec, f"{name}-{st.active}")
        apply(out, hpa, inp.observed.hpas.get(name))
    elif not inp.spec.autoscaling and name in inp.observed.hpas:
        uid = inp.observed.hpas[name]["metadata"]["uid"]
        out.delete.append(Delete("autoscaling/v2", "HorizontalPodAutoscaler", name, uid))
        out.event("Normal", "AutoscalingRemoved", "autoscaling turned off")


def disruption_budget(st: State, inp: Inputs, out: Plan) -> None:
    """The budget follows the serving revision; it goes when turned off or nothing serves."""
    name = inp.name
    if st.active and desired.wants_budget(inp.spec):
        budget = desired.disruption_budget(inp.server, inp.spec, st.active)
        apply(out, budget, inp.observed.budgets.get(name))
    elif name in inp.observed.budgets:
        uid = inp.observed.budgets[name]["metadata"]["uid"]
        out.delete.append(Delete("policy/v1", "PodDisruptionBudget", name, uid))


def _replicas(live: Body, default: int) -> int:
    return int((live.get("spec") or {}).get("replicas", default))


STEPS: tuple[Step, ...] = (run, scale_down, test_jobs, services, autoscaler, disruption_budget)
