"""A small decision tree over problem counts that names a solver backend, and how it is fitted.

Why a tree: every choice it makes is a short path of comparisons ("integer share
> 0.85, nonzeros <= 12,000 -> CBC") that can be printed as the reason, and its
thresholds can be fitted on recorded benchmark times and scored by
cross-validation on instances it was not fitted on (bench/replay_auto.py).

Fitting: greedy, CART-like. A node becomes a leaf that ranks the backends by
the sum over its training instances of ``log(1 + seconds)`` (unsolved or
refused = the time limit), which is what the benchmark's shifted geometric
mean (shift 1 s) measures; it is split on the one feature and threshold that
lower that sum the most, when both sides keep ``min_leaf`` instances and the
gain is at least ``min_gain``, down to ``max_depth``. Pure and deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from mcpops_common.problem import ProblemStats

__all__ = [
    "FEATURES",
    "Leaf",
    "Node",
    "Sample",
    "Split",
    "cross_validate",
    "decide",
    "features_of",
    "fit",
    "pick",
    "render",
]


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


# name -> (how a reason names it, value). Only counts the runtime has before solving.
FEATURES: dict[str, tuple[str, Callable[[ProblemStats], float]]] = {
    "variables": ("variables", lambda s: float(s.variables)),
    "constraints": ("constraints", lambda s: float(s.constraints)),
    "nonzeros": ("nonzeros", lambda s: float(s.nonzeros)),
    "columnsPerRow": ("columns per row", lambda s: _ratio(s.variables, max(1, s.constraints))),
    "nonzerosPerColumn": (
        "nonzeros per column",
        lambda s: _ratio(s.nonzeros, max(1, s.variables)),
    ),
    "integerShare": ("integer share", lambda s: s.integer_share),
    "binaryShareOfIntegers": (
        "binary share of the integers",
        lambda s: _ratio(s.binary_variables, s.integer_variables) if s.integer_variables else 0.0,
    ),
    "equalityShare": ("equality share", lambda s: s.equality_share),
    "integralData": ("whole-number data", lambda s: 1.0 if s.integral_data else 0.0),
    "maxAbsCoefficient": ("largest |coefficient|", lambda s: s.max_abs_coefficient),
}


def features_of(stats: ProblemStats) -> dict[str, float]:
    return {name: fn(stats) for name, (_, fn) in FEATURES.items()}


@dataclass(frozen=True)
class Leaf:
    """Backends, best first (by training loss); the runtime takes the first it supports."""

    ranking: tuple[str, ...]
    instances: int = 0


@dataclass(frozen=True)
class Split:
    feature: str
    threshold: float
    low: Node  # feature <= threshold
    high: Node  # feature > threshold


Node = Leaf | Split


@dataclass(frozen=True)
class Sample:
    name: str
    features: Mapping[str, float]
    # Seconds per backend; unsolved, wrong or refused = the time limit.
    seconds: Mapping[str, float] = field(default_factory=dict)
    # Backends that accept the problem (the runtime skips the others in a leaf's ranking).
    supported: frozenset[str] = frozenset()


def pick(leaf: Leaf, supported: frozenset[str] | set[str]) -> str:
    """The leaf's best backend that accepts the problem (its last resort: the first)."""
    return next((b for b in leaf.ranking if b in supported), leaf.ranking[0])


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.3g}"


def decide(node: Node, features: Mapping[str, float]) -> tuple[Leaf, list[str]]:
    """The leaf a problem reaches, and the comparisons that led there (for the reason)."""
    path: list[str] = []
    while isinstance(node, Split):
        value = features[node.feature]
        label = FEATURES[node.feature][0] if node.feature in FEATURES else node.feature
        if value <= node.threshold:
            path.append(f"{label} {_fmt(value)} <= {_fmt(node.threshold)}")
            node = node.low
        else:
            path.append(f"{label} {_fmt(value)} > {_fmt(node.threshold)}")
            node = node.high
    return node, path


# --------------------------------------------------------------------------- fitting


def _cost(t: float) -> float:
    return math.log1p(max(0.0, t))


def _ranking(samples: Sequence[Sample], backends: Sequence[str]) -> tuple[tuple[str, ...], float]:
    totals = {b: sum(_cost(s.seconds[b]) for s in samples) for b in backends}
    # Ties keep the given order of `backends` (the caller's preference).
    order = sorted(backends, key=lambda b: (round(totals[b], 9), backends.index(b)))
    return tuple(order), totals[order[0]]


def _threshold(a: float, b: float) -> float:
    """A round number between two neighbouring training values (a < b), for readable rules."""
    mid = (a + b) / 2
    for digits in range(1, 16):
        rounded = float(f"{mid:.{digits}g}")
        if a <= rounded < b:
            return rounded
    return a


def _best_split(
    samples: Sequence[Sample], backends: Sequence[str], min_leaf: int, features: Sequence[str]
) -> tuple[float, str, float] | None:
    """(loss, feature, threshold) of the best split, with prefix sums per backend."""
    best: tuple[float, str, float] | None = None
    n = len(samples)
    for feature in features:
        ordered = sorted(samples, key=lambda s: s.features[feature])
        total = {b: sum(_cost(s.seconds[b]) for s in ordered) for b in backends}
        left = dict.fromkeys(backends, 0.0)
        for i in range(n - 1):
            for b in backends:
                left[b] += _cost(ordered[i].seconds[b])
            a, nxt = ordered[i].features[feature], ordered[i + 1].features[feature]
            if a == nxt or i + 1 < min_leaf or n - i - 1 < min_leaf:
                continue
            loss = min(left.values()) + min(total[b] - left[b] for b in backends)
            if best is None or loss < best[0] - 1e-12:
                best = (loss, feature, _threshold(a, nxt))
    return best


def fit(
    samples: Sequence[Sample],
    backends: Sequence[str],
    *,
    max_depth: int = 2,
    min_leaf: int = 5,
    min_gain: float = 0.2,
    features: Sequence[str] = tuple(FEATURES),
) -> Node:
    """Fit a tree; `features` are the candidate splits (samples may carry more than
    FEATURES, e.g. the hand-written rules' conditions when candidates are compared)."""
    ranking, loss = _ranking(samples, backends)
    leaf = Leaf(ranking, len(samples))
    if max_depth <= 0 or len(samples) < 2 * min_leaf:
        return leaf
    split = _best_split(samples, backends, min_leaf, features)
    if split is None or loss - split[0] < min_gain:
        return leaf
    _, feature, threshold = split
    low = [s for s in samples if s.features[feature] <= threshold]
    high = [s for s in samples if s.features[feature] > threshold]
    sub = partial(
        fit, backends=backends, max_depth=max_depth - 1, min_leaf=min_leaf, features=features
    )
    return Split(feature, threshold, sub(low, min_gain=min_gain), sub(high, min_gain=min_gain))


def cross_validate(
    samples: Sequence[Sample],
    groups: Sequence[str],
    fitter: Callable[[Sequence[Sample]], Node],
) -> dict[str, str]:
    """Leave one group out: each sample's choice by a tree fitted without its group."""
    chosen: dict[str, str] = {}
    for group in sorted(set(groups)):
        train = [s for s, g in zip(samples, groups, strict=True) if g != group]
        tree = fitter(train)
        for s, g in zip(samples, groups, strict=True):
            if g == group:
                chosen[s.name] = pick(decide(tree, s.features)[0], s.supported)
    return chosen


def render(node: Node, indent: str = "") -> list[str]:
    """The tree as indented text lines (docs and the benchmark report)."""
    if isinstance(node, Leaf):
        return [f"{indent}-> {', '.join(node.ranking[:3])} ({node.instances} instances)"]
    label = FEATURES[node.feature][0] if node.feature in FEATURES else node.feature
    return [
        f"{indent}if {label} <= {_fmt(node.threshold)}:",
        *render(node.low, indent + "    "),
        f"{indent}else:",
        *render(node.high, indent + "    "),
    ]


def as_literal(node: Node) -> str:
    """Python source of the tree, to paste into mcpops_solver.auto after a refit."""
    if isinstance(node, Leaf):
        return f"Leaf({node.ranking!r}, {node.instances})"
    return (
        f"Split({node.feature!r}, {node.threshold!r}, {as_literal(node.low)}, "
        f"{as_literal(node.high)})"
    )
