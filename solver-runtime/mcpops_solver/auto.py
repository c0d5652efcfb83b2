"""``solver: auto``: choose a backend from what the problem is, with a reason.

The rules, in order (the first that matches decides). All of them look only at
counts the runtime has before solving (:class:`ProblemStats`: sizes,
integrality, which integers are binary, equality rows, whole-number data).

1. **Linear program** (no integer variable) **with at most 100,000
   nonzeros** -> **CLP**; **a larger LP** -> **HiGHS**. On the 60 Netlib LPs
   (up to 70,000 nonzeros, wood1p) every simplex backend solves all of them
   in well under a second; CLP had the lowest shifted geometric mean of solve
   time of the single backends (0.019 s; GLOP 0.021 s, HiGHS 0.029 s), and
   on the largest, wood1p, took 0.02 s against 0.09 s for HiGHS. Larger LPs
   go to HiGHS because CLP can fail badly there: on a generated set-covering
   LP (20,000 rows, 60,000 columns, 300,000 nonzeros) CLP and GLOP had not
   finished after 120 s while HiGHS took 53 s (PDLP 42 s); on a generated
   transportation LP (100,000 variables, 200,000 nonzeros) CLP and HiGHS both
   took 0.6 s, GLOP 2.2 s. PDLP solved only 53 of the 60 Netlib LPs in 5 s
   (one of the misses, lotfi, ended "optimal" more than 1e-6 off) and is
   never chosen first (it is HiGHS's race rival on large LPs).
2. **Pure integer program with whole-number data and at most 250 variables**
   -> **CP-SAT**. On enigma, lseu, p0033, p0201 and stein27 CP-SAT was the
   fastest or within 0.03 s of the fastest in both measurement runs (enigma
   0.06 s against 0.19 s for HiGHS and 2.2 s for CBC; p0201 0.7 s against
   1.1 s for HiGHS). It scales badly with size
   (it did not finish air03, cap6000, mitre or p2756 in 5 s, which the MIP
   solvers did), and it is never chosen with continuous variables: its
   scaling of them is approximate and gave wrong INFEASIBLE answers on the
   feasible arki001, gesa2_o, rgn and vpm2.
3. **Pure 0-1 program with at least 10 columns per row** (knapsack,
   set-partitioning and assignment shapes: few, long rows) -> **CBC**. On
   mod008 (319 columns, 6 rows, fractional data so rule 2 does not take it)
   CBC took 0.11 s against 1.0 to 1.1 s for HiGHS, SCIP and CP-SAT; on air03
   (10,757 columns, 124 rows) 0.7 s against 2.0 s for SCIP and 2.6 s for
   HiGHS. The other two such MIPLIB instances (air04, harp2) no backend
   solved in 5 s.
4. **Mostly integer (at least 85 % integer variables) with at least 1,000
   variables** -> **CBC**. In both measurement runs CBC solved 10teams,
   fiber, qnet1_o, air03, cap6000 and mitre faster than HiGHS and SCIP
   (10teams: only CBC within 5 s; air03 0.7 s against 2.6 s for HiGHS); on
   qnet1 and p2756 HiGHS was faster by 0.1 to 0.5 s. On small or
   continuous-heavy MIPs CBC was the slowest (bell3a, modglob, gesa2,
   misc03), so it is not chosen there.
5. **Mixed 0-1 program** (every integer variable binary, at least 25 %
   continuous variables) **with at most 25 % equality rows** -> **CBC**.
   Inequality-dominated mixed-binary models (variable upper bounds such as
   x <= u y, capacity rows) are where CBC beat HiGHS by the most: fixnet6
   1.2 s against 4.7 s (SCIP did not finish), vpm2 1.3 s against 2.3 s;
   on dsbmip (21 % equalities) they were level (0.39 s and 0.35 s). With more
   equality rows (flow conservation: pp08a 47 %, set1ch 49 %, modglob 33 %,
   misc06 30 %) CBC was slower than HiGHS or did not finish, hence the
   bound, which sits between 21 % (the largest share measured where CBC won)
   and 30 % (the smallest where it lost). Integer share alone does not
   separate these (fixnet6 43 %, vpm2 44 %, but set1ch 34 % and rgn 56 %
   went the other way), and general integers are left out (CBC was the
   slowest on bell3a, bell5, gesa2 and did not finish gesa2_o).
6. **Any other mixed-integer program** -> **HiGHS**: the best single MIP
   backend (most instances solved, lowest shifted geometric mean), never far
   from the best on the small and continuous-heavy ones where it is chosen.

Measurements: bench/solver_bench.py, one thread, 5 s limit, relative gap
1e-4, on a shared 2-CPU machine; see bench/results/solver.md.

Why hand-written rules and not the fitted trees (:mod:`mcpops_solver.choicetree`):
scored on recorded per-backend times (bench/replay_auto.py, shifted geometric
mean of solve time over the virtual best's; `bench/auto_eval.py` compares every
candidate), the rules are 1.054x on the 109 shared instances they were written
on (in-sample, optimistic) and 1.484x on 24 generated instances
(bench/gen_instances.py) written after them and never looked at when writing
them. The fitted trees, on the same generated instances, were 1.773x when
fitted on the shared set (the same footing as the rules: that comparison is
the fair one) and 1.603x when cross-validated over both sets (leave one family
out, so they had even seen the other generated shapes); on the shared set they
cross-validate to 1.173x. No tree setting (depth 0-3, with the rules'
conditions as extra candidate splits) beat the rules on unseen data, so the
rules decide and the tree machinery stays as the tool that scores candidates
(:data:`FITTERS`). Caveats: the generated set is small (12 LPs, 12 MIPs), and
its MIPs favour CBC (always-CBC is 1.04x there but 1.33x on the shared set).

The rule's backend comes first in a ranking (:data:`RANKINGS`) whose next
backends are the fallbacks when a backend refuses the model at solve time
(:func:`mcpops_solver.runtime.solve_problem`; backends that cannot take the
problem at all are skipped) and the rival raced against it when racing is
allowed and the pod has more than one CPU (:mod:`mcpops_solver.racing`; never
CLP against CBC on an LP, CBC runs CLP's simplex there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from mcpops_common.problem import ProblemStats
from mcpops_solver.backends import UnsupportedProblemError, check_supported
from mcpops_solver.choicetree import Node, Sample, fit

__all__ = [
    "BACKENDS_BY_KIND",
    "CLP_MAX_NONZEROS",
    "CP_SAT_MAX_VARIABLES",
    "FITTERS",
    "KNAPSACK_MIN_COLUMNS_PER_ROW",
    "MIXED_BINARY_MAX_EQUALITY_SHARE",
    "MIXED_BINARY_MIN_CONTINUOUS_SHARE",
    "MOSTLY_INTEGER_SHARE",
    "RANKINGS",
    "Choice",
    "choice",
    "choose",
]

CLP_MAX_NONZEROS = 100_000
CP_SAT_MAX_VARIABLES = 250
KNAPSACK_MIN_COLUMNS_PER_ROW = 10
MOSTLY_INTEGER_SHARE = 0.85
MOSTLY_INTEGER_MIN_VARIABLES = 1000
MIXED_BINARY_MAX_EQUALITY_SHARE = 0.25
MIXED_BINARY_MIN_CONTINUOUS_SHARE = 0.25

# Candidates per kind, in order of preference on a tie (HiGHS: the most robust overall).
LP_BACKENDS = ("HIGHS", "CLP", "GLOP", "CBC", "SCIP", "PDLP")
MIP_BACKENDS = ("HIGHS", "CBC", "SCIP", "CP-SAT", "BOP")
BACKENDS_BY_KIND = {"LP": LP_BACKENDS, "MIP": MIP_BACKENDS}

# Evaluation only (bench/auto_eval.py): how a choice tree per kind is fitted when
# candidates are compared. Not used to choose; see the module doc for why.
FITTERS: dict[str, Callable[[Sequence[Sample]], Node]] = {
    "LP": partial(fit, backends=LP_BACKENDS, max_depth=2, min_leaf=8, min_gain=0.1),
    "MIP": partial(fit, backends=MIP_BACKENDS, max_depth=2, min_leaf=8, min_gain=0.1),
}

# Per rule: its backend first, then the fallbacks / race rival, best overall first.
_MIP_AFTER_CBC = ("CBC", "HIGHS", "SCIP", "CP-SAT", "BOP")
RANKINGS: dict[str, tuple[str, ...]] = {
    "lp": ("CLP", "GLOP", "HIGHS", "CBC", "SCIP", "PDLP"),
    "large-lp": ("HIGHS", "PDLP", "CLP", "GLOP"),
    "small-whole-integer": ("CP-SAT", "HIGHS", "CBC", "SCIP", "BOP"),
    "long-rows-binary": _MIP_AFTER_CBC,
    "large-mostly-integer": _MIP_AFTER_CBC,
    "mixed-binary-inequalities": _MIP_AFTER_CBC,
    "mip": ("HIGHS", "CBC", "SCIP", "CP-SAT", "BOP"),
}


@dataclass(frozen=True)
class Choice:
    """What auto chose and why: the backend, the reason, and the ranked candidates
    that accept the problem (the first is the backend; the rest are the fallbacks)."""

    backend: str
    reason: str
    candidates: tuple[str, ...]
    rule: str  # which rule decided, with the counts it looked at


def _pct(share: float) -> str:
    return f"{round(100 * share)}%"


def _knapsack_shaped(stats: ProblemStats) -> bool:
    return stats.pure_binary and stats.variables >= KNAPSACK_MIN_COLUMNS_PER_ROW * max(
        1, stats.constraints
    )


def _inequality_mixed_binary(stats: ProblemStats) -> bool:
    continuous_share = 1.0 - stats.integer_share
    return (
        stats.integer_variables == stats.binary_variables
        and continuous_share >= MIXED_BINARY_MIN_CONTINUOUS_SHARE
        and stats.equality_share <= MIXED_BINARY_MAX_EQUALITY_SHARE
    )


def _lp_rule(stats: ProblemStats) -> tuple[str, str, str]:
    if stats.nonzeros <= CLP_MAX_NONZEROS:
        return (
            "lp",
            (f"rule 1: LP with {stats.nonzeros:,} <= {CLP_MAX_NONZEROS:,} nonzeros"),
            "CLP is the fastest LP backend measured on LPs of this size",
        )
    return (
        "large-lp",
        (f"rule 1: LP with {stats.nonzeros:,} > {CLP_MAX_NONZEROS:,} nonzeros"),
        "HiGHS is the most robust LP backend measured on large LPs",
    )


def _rule(stats: ProblemStats) -> tuple[str, str, str]:
    """(rule key, what matched, why that backend): the first rule that matches decides."""
    if stats.is_lp:
        return _lp_rule(stats)
    if (
        stats.continuous_variables == 0
        and stats.integral_data
        and stats.variables <= CP_SAT_MAX_VARIABLES
    ):
        return (
            "small-whole-integer",
            (
                f"rule 2: pure integer, whole-number data, {stats.variables} <= "
                f"{CP_SAT_MAX_VARIABLES} variables"
            ),
            "CP-SAT is the fastest measured on such problems",
        )
    if _knapsack_shaped(stats):
        per_row = stats.variables / max(1, stats.constraints)
        return (
            "long-rows-binary",
            (f"rule 3: pure 0-1, {per_row:.3g} >= {KNAPSACK_MIN_COLUMNS_PER_ROW} columns per row"),
            "CBC is the fastest measured on such knapsack- and partitioning-shaped problems",
        )
    share = _pct(stats.integer_share)
    if (
        stats.integer_share >= MOSTLY_INTEGER_SHARE
        and stats.variables >= MOSTLY_INTEGER_MIN_VARIABLES
    ):
        return (
            "large-mostly-integer",
            (
                f"rule 4: {share} >= {_pct(MOSTLY_INTEGER_SHARE)} integer, {stats.variables} >= "
                f"{MOSTLY_INTEGER_MIN_VARIABLES} variables"
            ),
            "CBC is the fastest measured on such problems",
        )
    if _inequality_mixed_binary(stats):
        return (
            "mixed-binary-inequalities",
            (
                f"rule 5: mixed 0-1, {_pct(1.0 - stats.integer_share)} continuous, "
                f"{_pct(stats.equality_share)} <= "
                f"{_pct(MIXED_BINARY_MAX_EQUALITY_SHARE)} equalities"
            ),
            "CBC is the fastest measured on such problems",
        )
    return (
        "mip",
        f"rule 6: other MIP ({share} integer)",
        ("HiGHS is the best MIP backend measured overall"),
    )


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
    key, rule, why = _rule(stats)
    ranking = RANKINGS[key]
    candidates = tuple(b for b in ranking if _accepts(b, stats)) or ("HIGHS",)
    skipped = [b for b in ranking[: ranking.index(candidates[0])] if b not in candidates]
    note = f"; {', '.join(skipped)} cannot take it" if skipped else ""
    reason = (
        f"auto: {stats.kind()} ({size}); {rule} -> {candidates[0]}{note}: {why} "
        f"(then {', '.join(candidates[1:3]) or 'none'})"
    )
    return Choice(candidates[0], reason, candidates, rule)


def choose(stats: ProblemStats) -> tuple[str, str]:
    """Return (backend, human-readable reason) for a problem."""
    c = choice(stats)
    return c.backend, c.reason
