"""Adds seeds to a BN pair until the paper's claims about it are decided, up to a cap.

An exploratory option (`python -m bn_keras.sweep --until_decided`), not the design the summary's
verdicts follow: those come from the fixed design of 10 seeds per arm (reporting/paper/design.py).

Every pair starts with `start` seeds per arm. After each round the verdicts are computed from the
finished runs (each framework alone, unadjusted: reporting/paper/claims.py), and each pair with an
UNDECIDED claim gets one more seed in both arms, until all its claims are decided or it reaches
`cap` seeds.

This is optional stopping: the number of seeds depends on the data seen so far, and each extra
look is another chance to decide by luck. Simulated on normal data
(tests/test_adaptive_error_rates.py, 40,000 repeats per cell), the rule's false-positive rate
("CI excludes 0" at a true effect of 0) is 3.6%, 8.0% and 13.7% at seed SDs of 0.0005, 0.001 and
0.002, and its false-equivalence rate (TOST passes at a true effect on the 0.002 margin) 13.1%,
13.4% and 10.0%, where the fixed 10-seed design holds 4.5-5.0% in every cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bn_keras.config.commands import MAX_SEEDS, START_SEEDS
from bn_keras.config.names import BN_SUFFIX
from bn_keras.reporting import effects
from bn_keras.reporting.paper import claims
from bn_keras.runs import reader
from bn_keras.runs.reader import KERAS, Run

Key = tuple[str, str]  # (framework, pair) e.g. ("keras", "lenetr")


@dataclasses.dataclass(frozen=True)
class PairState:
    """A pair's verdicts at its current seed count."""

    framework: str
    pair: str
    seeds: int
    verdicts: list[claims.Verdict]

    @property
    def decided(self) -> bool:
        return bool(self.verdicts) and all(v.decided for v in self.verdicts)

    def line(self) -> str:
        """E.g. "lenetr (exploratory): 10 seeds, BN makes no difference: final accuracy BN - no
        BN +0.0003, 95% CI [...], TOST p=0.010, REPRODUCED": each claim with its deciding test
        (TOST for "no difference", Welch's test of zero otherwise)."""
        name = self.pair if self.framework == KERAS else f"{self.framework} {self.pair}"
        name = f"{name} (exploratory)"
        if not self.verdicts:
            return f"{name}: {self.seeds} seeds, no finished runs to decide from"
        parts = []
        for v in self.verdicts:
            e = v.effect
            p = claims.primary_p(v.claim, e)
            test = "TOST" if v.claim == claims.NO_DIFFERENCE else "Welch"
            deciding = "" if p is None else f", {test} {effects.p_is(p)}"
            parts.append(
                f"{v.claim}: {e.quantity} BN - no BN {e.effect_text()}, 95% CI {e.ci_text()}"
                f"{deciding}, {v.outcome}"
            )
        return f"{name}: {self.seeds} seeds, " + "; ".join(parts)


def pair_state(runs: list[Run], framework: str, pair: str, seeds: int) -> PairState:
    """The verdicts about `pair` from the finished runs of `framework` with seed < `seeds`.

    Runs with higher seeds (left from an earlier, longer sweep) are not counted: the decision
    at n seeds uses the first n.
    """

    def arm(experiment: str) -> list[Run]:
        return [
            r
            for r in runs
            if r.experiment == experiment
            and r.framework == framework
            and r.seed < seeds
            and r.finished
        ]

    base, bn = arm(pair), arm(pair + BN_SUFFIX)
    verdicts = []
    if base and bn:
        dataset = reader.one_dataset([*base, *bn])
        verdicts = claims.verdicts_for(pair, effects.pair_effects(base, bn), dataset)
    return PairState(framework, pair, seeds, verdicts)


def add_seeds_until_decided(
    keys: list[Key],
    run_round: Callable[[dict[Key, int]], None],
    load_runs: Callable[[], list[Run]],
    start: int = START_SEEDS,
    cap: int = MAX_SEEDS,
    on_round: Callable[[dict[Key, PairState]], None] | None = None,
    first_round_done: bool = False,
) -> dict[Key, PairState]:
    """Runs rounds of seeds until every pair is decided or at the cap.

    Args:
        keys: the (framework, pair) to decide, e.g. [("keras", "lenetr")].
        run_round: makes seeds 0..n-1 of both arms of each given pair finished (n per key);
            finished runs are reused, so it only trains what is missing.
        load_runs: reads every run as it stands after a round.
        start: seeds per arm in the first round.
        cap: most seeds per arm.
        on_round: called with every pair's state after each round (for progress output).
        first_round_done: the `start` seeds have been run already; begin by deciding.

    Returns:
        Each pair's final state.
    """
    counts = {key: start for key in keys}
    pending = dict(counts)
    states: dict[Key, PairState] = {}
    while pending:
        if not first_round_done:
            run_round(pending)
        first_round_done = False
        runs = load_runs()
        states = {key: pair_state(runs, *key, counts[key]) for key in keys}
        if on_round:
            on_round(states)
        pending = {}
        for key, state in states.items():
            if state.verdicts and not state.decided and counts[key] < cap:
                counts[key] += 1
                pending[key] = counts[key]
    return states
