"""Adds seeds to a BN pair until the paper's claims about it are decided, up to a cap.

Every pair starts with `start` seeds per arm. After each round the verdicts are computed from
the finished runs (reporting/claims.py), and each pair with an UNDECIDED claim gets one more seed
in both arms, until all its claims are decided or it reaches `cap` seeds.

This is optional stopping: the number of seeds depends on the data seen so far, and each extra
look is another chance for an interval to exclude zero by luck, so the error rate over the whole
procedure is somewhat above the nominal 5% of each interval. The cap bounds the number of looks
(cap - start + 1; 8 with the defaults 3 and 10), and every verdict is reported with the interval
and seed count it was reached at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bn_keras.config.commands import MAX_SEEDS, START_SEEDS
from bn_keras.reporting import claims
from bn_keras.reporting.summary import BN_SUFFIX, KERAS, Run

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
        """E.g. "lenetr: 10 seeds, final accuracy BN - no BN +0.0003, 95% CI [...], TOST
        p=0.010, REPRODUCED"."""
        name = self.pair if self.framework == KERAS else f"{self.framework} {self.pair}"
        if not self.verdicts:
            return f"{name}: {self.seeds} seeds, no finished runs to decide from"
        parts = []
        for v in self.verdicts:
            e = v.effect
            tost = f", TOST {claims.p_is(e.tost_p)}" if e.tost_p is not None else ""
            parts.append(
                f"{v.claim}: {e.quantity} BN - no BN {e.effect_text()}, 95% CI {e.ci_text()}"
                f"{tost}, {v.outcome}"
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
    verdicts = claims.verdicts_for(pair, claims.pair_effects(base, bn)) if base and bn else []
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
