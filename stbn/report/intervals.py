"""Paired differences between two methods with a 95% interval over test sequences and training seeds.

Two arms (e.g. a trained model and BM3D) are scored on the very same noisy frames. Each arm's per-frame
metric is given as ``{seed: {sequence: {frame: value}}}``; the seed is that of the arm's training run,
``None`` for an arm without training randomness (a classical baseline, the noisy input, a published
checkpoint).

The estimate is the paper's aggregate (mean over the frames of a sequence, then over sequences) of arm
a minus that of arm b, each arm's seeds averaged. Its variance has three parts (a random-effects view:
test videos and training seeds are both samples of what a claim is about):

- **sequences**: ``var_s(d_s) / S``, where ``d_s`` is the seed-averaged difference on sequence ``s``.
  Frames of one sequence are strongly correlated (same scene, same model state), so the sequence, not
  the frame, is the independent unit; a sequence's mean over its frames already carries its
  frame-to-frame noise.
- **seeds of each trained arm**: ``var_k(m_k) / K`` of the arm's per-seed dataset scores ``m_k``. An
  arm trained with one seed takes a seed spread measured on other models at the same budget
  (:func:`pooled_seed_spread`); without one there is no interval.
- an arm without training randomness adds nothing.

The interval is ``estimate ± t(0.975, df) * sqrt(V)`` with Welch-Satterthwaite degrees of freedom
(``S - 1`` for sequences, ``K - 1`` per arm's seeds). With the handful of sequences and seeds a CPU run
affords, a bootstrap would resample 2-3 units and understate the spread; the t quantile at few degrees
of freedom does not (``docs/report.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from stbn.errors import StbnError

#: ``{seed: {sequence: {frame: value}}}``; seed None: no training randomness.
ArmValues = Mapping[int | None, Mapping[str, Mapping[str, float]]]

CONFIDENCE = 0.95
MAX_SCALE = 1e4
"""The largest factor on a run's sequences and seeds that :func:`resolving_budget` considers."""


@dataclass(frozen=True)
class SeedSpread:
    """Variance of a model's dataset score between training seeds, with its degrees of freedom."""

    variance: float
    df: int
    source: str


@dataclass(frozen=True)
class Difference:
    """A paired difference a - b and its interval; ``low``/``high`` are NaN when ``problem`` says why
    there is none."""

    estimate: float
    low: float
    high: float
    df: float
    sequences: int
    seeds: tuple[int, int]
    components: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    """Variance parts: name -> (variance of the estimate, degrees of freedom, units: sequences or seeds)."""
    seed_spread: str = ""
    problem: str | None = None

    @property
    def resolved(self) -> bool:
        """Whether the interval excludes zero."""
        return not self.problem and (self.low > 0 or self.high < 0)


def _check_frames(arms: Sequence[ArmValues], names: Sequence[str]) -> dict[str, set[str]]:
    reference: dict[str, set[str]] | None = None
    where = ""
    for name, arm in zip(names, arms):
        if not arm:
            raise StbnError(f"{name}: no evaluation")
        for seed, sequences in arm.items():
            frames = {seq: set(values) for seq, values in sequences.items()}
            here = name + ("" if seed is None else f" seed {seed}")
            if reference is None:
                reference, where = frames, here
            elif frames != reference:
                raise StbnError(f"{here} was scored on other sequences or frames than {where}: a paired "
                                "difference needs the same frames (same evaluation.max_frames and data)")
    assert reference is not None
    return reference


def _sequence_means(arm: ArmValues, sequences: Sequence[str]) -> np.ndarray:
    """``(K, S)``: mean over frames of each sequence, for each seed."""
    return np.array([[np.mean(list(arm[k][s].values())) for s in sequences] for k in arm])


def seed_scores(arm: ArmValues) -> list[float]:
    """The dataset score of each seed of an arm (mean over frames, then sequences)."""
    sequences = sorted(next(iter(arm.values())))
    return list(_sequence_means(arm, sequences).mean(axis=1))


def pooled_seed_spread(groups: Sequence[Sequence[float]], source: str) -> SeedSpread | None:
    """Pooled between-seed variance of several models' dataset scores (each group: one model's
    scores over its seeds; groups with one seed are ignored); None without any group of 2+ seeds."""
    used = [np.asarray(g, dtype=float) for g in groups if len(g) >= 2]
    df = sum(len(g) - 1 for g in used)
    if not df:
        return None
    return SeedSpread(float(sum(((g - g.mean()) ** 2).sum() for g in used) / df), df, source)


def _satterthwaite(parts: Sequence[tuple[float, float]]) -> float:
    total = sum(v for v, _ in parts)
    denominator = sum(v * v / df for v, df in parts if v > 0)
    return total * total / denominator if denominator > 0 else math.inf


def _interval(estimate: float, parts: Sequence[tuple[float, float]], confidence: float) -> tuple[float, float, float]:
    """``(low, high, df)`` from variance parts ``(variance, df)``."""
    variance = sum(v for v, _ in parts)
    df = _satterthwaite(parts)
    if variance == 0:
        return estimate, estimate, df
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * math.sqrt(variance)
    return estimate - half, estimate + half, df


def paired_difference(
    a: ArmValues,
    b: ArmValues,
    spread: SeedSpread | None = None,
    names: tuple[str, str] = ("a", "b"),
    confidence: float = CONFIDENCE,
) -> Difference:
    """Arm ``a`` minus arm ``b`` on the same frames, with its interval (see the module docstring).

    ``spread`` is used for a trained arm that has a single seed.
    """
    reference = _check_frames([a, b], names)
    sequences = sorted(reference)
    means = [_sequence_means(arm, sequences) for arm in (a, b)]
    per_sequence = means[0].mean(axis=0) - means[1].mean(axis=0)
    estimate = float(per_sequence.mean())
    n_seeds = tuple(0 if None in arm else len(arm) for arm in (a, b))
    common = {"estimate": estimate, "sequences": len(sequences), "seeds": n_seeds}
    if len(sequences) < 2:
        return Difference(low=math.nan, high=math.nan, df=math.nan, **common,
                          problem="one test sequence: the spread between sequences is unknown")
    parts = {"sequences": (float(per_sequence.var(ddof=1)) / len(sequences), len(sequences) - 1.0, len(sequences))}
    used = []
    for name, m, k in zip(names, means, n_seeds):
        if k >= 2:
            parts[f"seeds of {name}"] = (float(m.mean(axis=1).var(ddof=1)) / k, k - 1.0, k)
            used.append(f"{name}: {k} seeds")
        elif k == 1:
            if spread is None:
                return Difference(low=math.nan, high=math.nan, df=math.nan, **common,
                                  problem=f"{name} was trained with one seed and no seed spread was measured")
            parts[f"seeds of {name}"] = (spread.variance, float(spread.df), 1)
            used.append(f"{name}: 1 seed, the seed spread of {spread.source}")
    low, high, df = _interval(estimate, [p[:2] for p in parts.values()], confidence)
    return Difference(low=low, high=high, df=df, components=parts, seed_spread="; ".join(used), **common)


def replicate_difference(values: Sequence[float], confidence: float = CONFIDENCE) -> Difference:
    """Mean of independent replicate differences (e.g. one per noise seed) with its t interval."""
    x = np.asarray(values, dtype=float)
    parts = {"replicates": (float(x.var(ddof=1)) / len(x), len(x) - 1.0, len(x))}
    low, high, df = _interval(float(x.mean()), [p[:2] for p in parts.values()], confidence)
    return Difference(float(x.mean()), low, high, df, len(x), (0, 0), parts)


def resolving_budget(diff: Difference, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """``(sequences, seeds)`` that would make the interval exclude zero if the estimate stayed the same:
    each variance part shrinks with its units (sequences or replicates; seeds per trained arm), all
    scaled by one factor up to :data:`MAX_SCALE`. None when none would (e.g. a zero estimate)."""
    if diff.problem or diff.estimate == 0 or not diff.components:
        return None
    scale = 1.0
    while scale <= MAX_SCALE:
        parts, counts = [], {}
        for name, (variance, df, n0) in diff.components.items():
            n = math.ceil(n0 * scale)
            counts[name] = n
            parts.append((variance * n0 / n, max(df, n - 1.0)))
        low, high, _ = _interval(diff.estimate, parts, confidence)
        if low > 0 or high < 0:
            seeds = [n for name, n in counts.items() if name.startswith("seeds")]
            return counts.get("sequences", counts.get("replicates", diff.sequences)), max(seeds, default=0)
        scale *= 1.1
    return None
