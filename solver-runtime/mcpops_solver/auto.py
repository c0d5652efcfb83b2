"""``solver: auto``: choose a backend from what the problem is.

The rules, in order (the first that matches decides):

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
   never chosen.
2. **Pure integer program with whole-number data and at most 250 variables**
   -> **CP-SAT**. On enigma, lseu, p0033, p0201 and stein27 CP-SAT was the
   fastest or within 0.03 s of the fastest in both measurement runs (enigma
   0.06 s against 0.19 s for HiGHS and 2.2 s for CBC; p0201 0.7 s against
   1.1 s for HiGHS). It scales badly with size
   (it did not finish air03, cap6000, mitre or p2756 in 5 s, which the MIP
   solvers did), and it is never chosen with continuous variables: its
   scaling of them is approximate and gave wrong INFEASIBLE answers on the
   feasible arki001, gesa2_o, rgn and vpm2.
3. **Mostly integer (at least 85 % integer variables) with at least 1,000
   variables** -> **CBC**. In both measurement runs CBC solved 10teams,
   fiber, qnet1_o, air03, cap6000 and mitre faster than HiGHS and SCIP
   (10teams: only CBC within 5 s; air03 0.7 s against 2.6 s for HiGHS); on
   qnet1 and p2756 HiGHS was faster by 0.1 to 0.5 s. On small or
   continuous-heavy MIPs CBC was the slowest (bell3a, modglob, gesa2,
   misc03), so it is not chosen there.
4. **Any other mixed-integer program** -> **HiGHS**: the best single MIP
   backend (most instances solved, lowest shifted geometric mean), never far
   from the best on the small and continuous-heavy ones where it is chosen.

Measurements: bench/solver_bench.py, one thread, 5 s limit, relative gap
1e-4, two runs on a shared 2-CPU machine; see bench/results/solver.md. With
these rules auto solved 93 of the 109 instances (the best single backend,
HiGHS, 92; the virtual best 93) with a shifted geometric mean of solve time
1.102 times the virtual best's (1.034 when the 1 s shift is not taken off).
"""

from __future__ import annotations

from mcpops_solver.problem import ProblemStats

__all__ = ["CLP_MAX_NONZEROS", "CP_SAT_MAX_VARIABLES", "MOSTLY_INTEGER_SHARE", "choose"]

CLP_MAX_NONZEROS = 100_000
CP_SAT_MAX_VARIABLES = 250
MOSTLY_INTEGER_SHARE = 0.85
MOSTLY_INTEGER_MIN_VARIABLES = 1000


def _size(stats: ProblemStats) -> str:
    return f"{stats.variables} variables, {stats.constraints} constraints"


def choose(stats: ProblemStats) -> tuple[str, str]:
    """Return (backend, human-readable reason) for a problem."""
    if stats.is_lp:
        if stats.nonzeros <= CLP_MAX_NONZEROS:
            return "CLP", (
                f"auto: linear program ({_size(stats)}, {stats.nonzeros} nonzeros); CLP is "
                "the fastest LP backend measured on LPs of this size"
            )
        return "HIGHS", (
            f"auto: large linear program ({_size(stats)}, {stats.nonzeros} nonzeros); HiGHS "
            "is the most robust LP backend measured on large LPs"
        )
    if (
        stats.continuous_variables == 0
        and stats.integral_data
        and stats.variables <= CP_SAT_MAX_VARIABLES
    ):
        return "CP-SAT", (
            f"auto: small {stats.kind()} with whole-number data ({_size(stats)}); "
            "CP-SAT is the fastest measured on such problems"
        )
    if (
        stats.integer_share >= MOSTLY_INTEGER_SHARE
        and stats.variables >= MOSTLY_INTEGER_MIN_VARIABLES
    ):
        share = round(100 * stats.integer_share)
        return "CBC", (
            f"auto: large mostly-integer {stats.kind()} ({share}% integer, {_size(stats)}); "
            "CBC is the fastest measured on such problems"
        )
    share = round(100 * stats.integer_share)
    return "HIGHS", (
        f"auto: {stats.kind()} ({share}% integer, {_size(stats)}); HiGHS is the best "
        "MIP backend measured overall"
    )
