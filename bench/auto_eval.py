"""Honest scores of ``solver: auto`` from recorded per-backend times (no solving).

Three numbers per set, all as the shifted geometric mean (shift 1 s) of the
chosen backend's recorded time over the virtual best's:

* **runtime rules, fitted**: ``mcpops_solver.auto.choose`` as shipped. Its tree
  was fitted on these same instances, so this is an in-sample score.
* **refit, fitted**: the tree fitted again on every instance here (equal to the
  shipped one unless the recorded times changed since).
* **cross-validated**: leave one *family* out (instances whose names differ
  only in digits or a suffix, e.g. scfxm1/scfxm2, p0033/p0201, gesa2/gesa2_o,
  are one family): each family's choices come from a tree fitted without it.
  This is the estimate of how the rules do on problems they have not seen.

Used by bench/replay_auto.py (recorded times) and bench/solver_bench.py (the
report it writes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mcpops_common.problem import ProblemStats
from mcpops_solver import auto
from mcpops_solver.backends import UnsupportedProblemError, check_supported
from mcpops_solver.choicetree import (
    Node,
    Sample,
    cross_validate,
    decide,
    features_of,
    pick,
    render,
)


def family(name: str) -> str:
    """Instances named alike are one family: letters after leading digits, up to a digit;
    a generated instance (g<seed>-<k>-<shape>) by its shape."""
    generated = re.fullmatch(r"g\d+-\d+-([a-z]+)", name)
    if generated:
        return generated.group(1)
    stem = name.lower().removesuffix("_o").lstrip("0123456789")
    match = re.match(r"[a-z]+", stem)
    return match.group(0) if match else name


def recorded_seconds(report: Mapping[str, Any]) -> dict[tuple[str, str], float]:
    """(instance, backend) -> seconds; unsolved, wrong or refused = the time limit."""
    limit = float(report["timeLimit"])
    out: dict[tuple[str, str], float] = {}
    for r in report["runs"]:
        ok = r.get("solved") and r.get("seconds") is not None
        out[(r["instance"], r["solver"])] = min(float(r["seconds"]), limit) if ok else limit
    return out


def supported(stats: ProblemStats, backends: Sequence[str]) -> frozenset[str]:
    ok = set()
    for b in backends:
        try:
            check_supported(b, stats)
        except UnsupportedProblemError:
            continue
        ok.add(b)
    return frozenset(ok)


def samples(
    report: Mapping[str, Any], stats: Mapping[str, ProblemStats], backends: Sequence[str]
) -> list[Sample]:
    limit = float(report["timeLimit"])
    secs = recorded_seconds(report)
    out = []
    for name in report["instances"]:
        if name not in stats:
            continue
        s = stats[name]
        out.append(
            Sample(
                name=name,
                features=features_of(s),
                seconds={b: secs.get((name, b), limit) for b in backends},
                supported=supported(s, backends),
            )
        )
    return out


def _sgm(times: Sequence[float]) -> float:
    return math.exp(sum(math.log1p(t) for t in times) / len(times)) - 1 if times else math.nan


def score(
    chosen: Mapping[str, str], all_samples: Sequence[Sample], limit: float
) -> dict[str, float]:
    """Solved count and SGM of the chosen backends against the virtual best."""
    picked = [s.seconds.get(chosen[s.name], limit) for s in all_samples]
    best = [min(s.seconds.values(), default=limit) for s in all_samples]
    sgm, vb = _sgm(picked), _sgm(best)
    return {
        "instances": len(all_samples),
        "solved": sum(t < limit for t in picked),
        "virtualBestSolved": sum(t < limit for t in best),
        "sgm": sgm,
        "virtualBest": vb,
        "ratio": sgm / vb if vb > 0 else math.nan,
    }


def evaluate(
    report: Mapping[str, Any],
    stats: Mapping[str, ProblemStats],
    choose: Callable[[ProblemStats], tuple[str, str]] = auto.choose,
) -> dict[str, Any]:
    """Fitted and cross-validated scores per kind (LP, MIP) and over all."""
    limit = float(report["timeLimit"])
    by_kind: dict[str, list[Sample]] = {}
    runtime: dict[str, str] = {n: choose(s)[0] for n, s in stats.items()}
    refit: dict[str, str] = {}
    cv: dict[str, str] = {}
    trees: dict[str, Node] = {}
    for kind, backends in auto.BACKENDS_BY_KIND.items():
        kind_stats = {n: s for n, s in stats.items() if s.is_lp == (kind == "LP")}
        group = samples(report, kind_stats, backends)
        if not group:
            continue
        by_kind[kind] = group
        fitter = auto.FITTERS[kind]
        trees[kind] = tree = fitter(group)
        refit.update({s.name: pick(decide(tree, s.features)[0], s.supported) for s in group})
        cv.update(cross_validate(group, [family(s.name) for s in group], fitter))
    out: dict[str, Any] = {"families": {}, "trees": {k: render(t) for k, t in trees.items()}}
    everything = [s for group in by_kind.values() for s in group]
    for kind, group in (*by_kind.items(), ("all", everything)):
        if not group:
            continue
        out["families"][kind] = len({family(s.name) for s in group})
        out[kind] = {
            "runtime": score(runtime, group, limit),
            "refit": score(refit, group, limit),
            "crossValidated": score(cv, group, limit),
        }
    out["crossValidatedChoices"] = cv
    return out


def markdown(ev: Mapping[str, Any], *, unseen: bool = False) -> list[str]:
    runtime = (
        "runtime rules (fitted on the shared set: unseen here)"
        if unseen
        else "runtime rules (fitted)"
    )
    lines = [
        "## Fitted and cross-validated choice (recorded times, no re-solving)",
        "",
        "The choice is a small tree per kind (LP, MIP) over the problem's counts, fitted on "
        "the recorded times of every backend (`mcpops_solver.choicetree`, "
        "`bench/auto_eval.py`). *Fitted* scores are on the instances the tree was fitted on "
        "(in-sample: optimistic). *Cross-validated* = leave one family out: each family's "
        "choices come from a tree fitted without it. SGM over the virtual best; solved "
        "counts against the virtual best's. The trees' depth and leaf size "
        "(`mcpops_solver.auto.FITTERS`) were picked from a small grid by the shared set's "
        "cross-validated score, which makes that score slightly optimistic.",
        "",
        f"| set | families | {runtime} | refit here (fitted) | cross-validated |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in ("LP", "MIP", "all"):
        row = ev.get(kind)
        if not row:
            continue
        cells = [
            f"{row[k]['ratio']:.3f}x, {row[k]['solved']}/{row[k]['virtualBestSolved']} solved"
            for k in ("runtime", "refit", "crossValidated")
        ]
        lines.append(f"| {kind} | {ev['families'][kind]} | " + " | ".join(cells) + " |")
    lines += ["", "Trees fitted on all of these instances:", ""]
    for kind, text in ev["trees"].items():
        lines += [f"{kind}:", "", "```", *text, "```", ""]
    return lines
