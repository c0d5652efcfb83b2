"""``solver: auto``: choose a backend from what the problem is.

(Placeholder rules; replaced after measuring.)
"""

from __future__ import annotations

from mcpops_solver.problem import ProblemStats

__all__ = ["choose"]


def choose(stats: ProblemStats) -> tuple[str, str]:
    """Return (backend, human-readable reason)."""
    if stats.is_lp:
        return "HIGHS", "linear program"
    return "HIGHS", f"{stats.kind()}"
