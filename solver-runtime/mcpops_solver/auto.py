"""``solver: auto``: choose a backend from what the problem is, with a reason.

The choice is a small decision tree per kind of problem (LP, MIP) over counts
the runtime has before solving (:mod:`mcpops_solver.choicetree`: sizes,
columns per row, integer and equality shares, whole-number data). Its
thresholds and the backend ranking of each leaf were *fitted* on the recorded
per-backend times of the benchmark (bench/solver_bench.py: 60 Netlib LPs, 49
MIPLIB 3 MIPs, 1 thread, 5 s limit), not written by hand: refit and score
with ``python bench/replay_auto.py --fit``, which prints the trees below and
their cross-validated score (leave one family of instances out), reported in
bench/results/solver.md next to the in-sample one.

Scores (shifted geometric mean of solve time over the virtual best's, recorded
1-thread times, all 93 solvable instances solved in each case): 1.107x fitted
(in-sample), 1.173x cross-validated by leaving each family out (LP 1.277x,
where the virtual best is the minimum of six noisy sub-0.1 s times; MIP
1.216x; always-HiGHS would be 1.238x on the MIPs). On 24 generated instances
never used for fitting (bench/gen_instances.py) the shipped trees were 1.77x
the virtual best (CBC was the fastest MIP backend there; the trees send small
MIPs to HiGHS). The hand-written rules these trees replaced scored 1.054x, but
only in-sample: they were written on the same instances.

Fixed guards that are not fitted (no instance of the set shows them):

* an LP with more than 100,000 nonzeros goes to **HiGHS**: on a generated
  set-covering LP (300,000 nonzeros) CLP and GLOP had not finished after
  120 s while HiGHS took 53 s;
* a leaf's first backend that refuses the problem is skipped (CP-SAT and BOP
  take pure integer / pure 0-1 programs only: CP-SAT's scaling of continuous
  variables gave wrong INFEASIBLE answers on the feasible arki001 and gesa2_o),
  and the runtime falls back along the same ranking when a backend refuses a
  model at solve time (:func:`mcpops_solver.runtime.solve_problem`).

The ranking of a leaf also names the two backends raced (the first, and the next that is not
the same solver underneath: CBC runs CLP on an LP) when racing is
allowed and the pod has more than one CPU (:mod:`mcpops_solver.racing`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from mcpops_common.problem import ProblemStats
from mcpops_solver.backends import UnsupportedProblemError, check_supported
from mcpops_solver.choicetree import Leaf, Node, Sample, Split, decide, features_of, fit

__all__ = [
    "BACKENDS_BY_KIND",
    "CLP_MAX_NONZEROS",
    "FITTERS",
    "TREES",
    "Choice",
    "choice",
    "choose",
]

CLP_MAX_NONZEROS = 100_000

# Candidates per kind, in order of preference on a tie (HiGHS: the most robust overall).
LP_BACKENDS = ("HIGHS", "CLP", "GLOP", "CBC", "SCIP", "PDLP")
MIP_BACKENDS = ("HIGHS", "CBC", "SCIP", "CP-SAT", "BOP")
BACKENDS_BY_KIND = {"LP": LP_BACKENDS, "MIP": MIP_BACKENDS}

# How each kind's tree is fitted. Depth and leaf size were picked from a small grid
# (depth 0-3, leaf 3/5/8, gain 0.1/0.5/1) by the cross-validated score, which makes
# that score slightly optimistic; see bench/results/solver.md.
FITTERS: dict[str, Callable[[Sequence[Sample]], Node]] = {
    "LP": partial(fit, backends=LP_BACKENDS, max_depth=2, min_leaf=8, min_gain=0.1),
    "MIP": partial(fit, backends=MIP_BACKENDS, max_depth=2, min_leaf=8, min_gain=0.1),
}

# Fitted on bench/results/solver.json (2026-11-22) by `bench/replay_auto.py --fit`.
TREES: dict[str, Node] = {
    "LP": Leaf(("CLP", "CBC", "GLOP", "HIGHS", "SCIP", "PDLP"), 60),
    "MIP": Split(
        "columnsPerRow",
        7.6,
        Split(
            "nonzeros",
            7000.0,
            Leaf(("HIGHS", "SCIP", "CBC", "CP-SAT", "BOP"), 31),
            Leaf(("CBC", "HIGHS", "SCIP", "CP-SAT", "BOP"), 8),
        ),
        Leaf(("CBC", "SCIP", "HIGHS", "CP-SAT", "BOP"), 10),
    ),
}


@dataclass(frozen=True)
class Choice:
    """What auto chose and why: the backend, the reason, and the ranked candidates
    that accept the problem (the first is the backend; the rest are the fallbacks)."""

    backend: str
    reason: str
    candidates: tuple[str, ...]
    rule: str  # the comparisons that led to the leaf, or the guard that decided


def _accepts(backend: str, stats: ProblemStats) -> bool:
    try:
        check_supported(backend, stats)
    except UnsupportedProblemError:
        return False
    return True


def choice(stats: ProblemStats) -> Choice:
    size = (
        f"{stats.variables} variables, {stats.constraints} constraints, {stats.nonzeros} nonzeros"
    )
    kind = "LP" if stats.is_lp else "MIP"
    if stats.is_lp and stats.nonzeros > CLP_MAX_NONZEROS:
        rule = f"nonzeros {stats.nonzeros:,} > {CLP_MAX_NONZEROS:,} (large LP guard)"
        ranking: tuple[str, ...] = ("HIGHS", "PDLP", "CLP", "GLOP")
    else:
        leaf, path = decide(TREES[kind], features_of(stats))
        ranking = leaf.ranking
        rule = ", ".join(path) if path else f"the best {kind} backend of the fitted set"
    candidates = tuple(b for b in ranking if _accepts(b, stats)) or ("HIGHS",)
    skipped = [b for b in ranking[: ranking.index(candidates[0])] if b not in candidates]
    note = f"; {', '.join(skipped)} cannot take it" if skipped else ""
    reason = (
        f"auto: {stats.kind()} ({size}); {rule} -> {candidates[0]}{note} "
        f"(then {', '.join(candidates[1:3]) or 'none'})"
    )
    return Choice(candidates[0], reason, candidates, rule)


def choose(stats: ProblemStats) -> tuple[str, str]:
    """Return (backend, human-readable reason) for a problem."""
    c = choice(stats)
    return c.backend, c.reason
