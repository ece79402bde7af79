"""Error rates of the sweep's seed-adding rule against the fixed 10-seed design, on normal data.

The seed-adding rule (bn_keras/experiments/adaptive.py, `--until_decided`) starts a pair at 3
seeds per arm and adds one per round until its verdict is decided or the pair has 10. Each look
is another chance to decide by luck. This script simulates one claim under that rule and under
the fixed design (10 seeds, one look), with the summary's own formulas (Welch intervals and TOST
from bn_keras.reporting.statistics), and prints how often each decides wrongly:

- false positive: the true BN effect is 0, yet the 95% CI excludes 0 (a "raises" claim would be
  REPRODUCED); a TOST pass stops the rule too, as it does in the sweep;
- false equivalence: the true effect equals the margin (0.002), yet TOST passes (a "no
  difference" claim would be REPRODUCED); a CI beyond the margin stops the rule too.

The rates depend on the seed-to-seed SD relative to the margin, so three SDs are shown (the
committed runs' final accuracies have SDs of about 0.0005-0.0015). Then the family-wise rate of
the fixed design with Holm across five null claims.

    python scripts/simulate_adaptive.py [--repeats=40000]
"""

from __future__ import annotations

import argparse

import numpy as np

from bn_keras.experiments.adaptive import MAX_SEEDS, START_SEEDS
from bn_keras.reporting import statistics
from bn_keras.reporting.statistics import ACCURACY_MARGIN, ALPHA, DIFFERENCE

SDS = (0.0005, 0.001, 0.002)
SEED = 2026


def _tests(base: np.ndarray, bn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per repetition (rows): the Welch p of zero, the TOST p, and whether the 95% CI lies
    beyond the margin."""
    est, se, df = statistics.contrast_moments((base, bn), DIFFERENCE)
    p = statistics.difference_p(est, se, df)
    tost = statistics.equivalence_p(est, se, df, ACCURACY_MARGIN)
    half = statistics.stats.t.ppf(1 - ALPHA / 2, df) * se
    beyond = (est - half > ACCURACY_MARGIN) | (est + half < -ACCURACY_MARGIN)
    return p, tost, beyond


def error_rates(
    true_effect: float, sd: float, repeats: int, rng: np.random.Generator, looks: range
) -> tuple[float, float]:
    """(false positive, false equivalence) of a rule that looks at each n in `looks` and stops
    at the first decided verdict, for normal seeds with `true_effect` and `sd`."""
    cap = looks[-1]
    base = rng.normal(0.0, sd, (repeats, cap))
    bn = rng.normal(true_effect, sd, (repeats, cap))
    open_ = np.ones(repeats, bool)
    positive = np.zeros(repeats, bool)
    equivalent = np.zeros(repeats, bool)
    for n in looks:
        p, tost, beyond = _tests(base[:, :n], bn[:, :n])
        if true_effect == 0:  # a "raises" claim: decided by a CI off zero or equivalence
            positive |= open_ & (p < ALPHA)
            decided = (p < ALPHA) | (tost < ALPHA)
        else:  # a "no difference" claim: decided by equivalence or a CI beyond the margin
            equivalent |= open_ & (tost < ALPHA)
            decided = (tost < ALPHA) | beyond
        open_ &= ~decided
    return float(positive.mean()), float(equivalent.mean())


def holm_family_rate(repeats: int, rng: np.random.Generator, sd: float = 0.001) -> float:
    """How often the fixed design with Holm across five null claims (four differences at a true
    effect of 0, one equivalence at a true effect on the margin) decides any of them wrongly."""
    n = MAX_SEEDS
    p = []
    for true_effect in (0.0, 0.0, 0.0, 0.0, ACCURACY_MARGIN):
        base, bn = rng.normal(0, sd, (repeats, n)), rng.normal(true_effect, sd, (repeats, n))
        welch_p, tost, _ = _tests(base, bn)
        p.append(welch_p if true_effect == 0 else tost)
    p = np.stack(p, axis=1)
    adjusted = np.array([statistics.holm(row) for row in p])
    return float((adjusted < ALPHA).any(axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40_000)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    adaptive = range(START_SEEDS, MAX_SEEDS + 1)
    fixed = range(MAX_SEEDS, MAX_SEEDS + 1)
    print(f"{args.repeats} repeats per cell, normal seeds, margin {ACCURACY_MARGIN}, alpha {ALPHA}")
    print("| seed SD | rule | false positive (true 0) | false equivalence (true = margin) |")
    print("| --- | --- | --- | --- |")
    for sd in SDS:
        for name, looks in (
            (f"seed-adding, {START_SEEDS} to {MAX_SEEDS}", adaptive),
            (f"fixed, {MAX_SEEDS} seeds", fixed),
        ):
            fp, _ = error_rates(0.0, sd, args.repeats, rng, looks)
            _, fe = error_rates(ACCURACY_MARGIN, sd, args.repeats, rng, looks)
            print(f"| {sd} | {name} | {fp:.1%} | {fe:.1%} |")
    rate = holm_family_rate(args.repeats // 4, rng)
    print(f"fixed design, Holm across 5 null claims (SD 0.001): family-wise error {rate:.1%}")


if __name__ == "__main__":
    main()
