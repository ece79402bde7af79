"""One finding per claim from every framework together, Holm-adjusted across all the claims.

The design (reporting/paper/design.py): each claim's primary effect is the BN effect averaged over
the frameworks, (Keras effect + PyTorch effect) / 2, a contrast of four group means with its Welch
interval; its primary p goes into one Holm family with every other claim's. Beside it stand the
interaction (Keras effect - PyTorch effect, with its interval: do the frameworks agree?) and each
framework's own, unadjusted verdict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from bn_keras.reporting import effects, statistics
from bn_keras.reporting.effects import Effect, RunLike
from bn_keras.reporting.paper import claims
from bn_keras.reporting.paper.claims import CLAIMS, Verdict
from bn_keras.runs import reader

BN_SUFFIX = "_bn"
INTERACTION = (-1.0, 1.0, 1.0, -1.0)  # first framework's BN effect minus the second's
# The family Holm corrects: every claim of the paper, whether or not it has runs yet.
FAMILY = tuple((pair, claim) for pair, pair_claims in CLAIMS.items() for claim in pair_claims)

Arms = tuple[Sequence[RunLike], Sequence[RunLike]]


def arms_of(groups: Mapping[str, Mapping[str, Sequence[RunLike]]], pair: str) -> dict[str, Arms]:
    """Per framework with finished runs in both arms of `pair`: (without BN, with BN)."""
    return {
        framework: (experiments[pair], experiments[pair + BN_SUFFIX])
        for framework, experiments in groups.items()
        if experiments.get(pair) and experiments.get(pair + BN_SUFFIX)
    }


def interaction(arms: Mapping[str, Arms], quantity_key: str) -> Effect | None:
    """The first framework's BN effect minus the second's in one quantity, None unless there
    are exactly two frameworks."""
    if len(arms) != 2:
        return None
    found = effects.arms_effects(list(arms.values()), weights=INTERACTION)
    return next(e for e in found if e.key == quantity_key)


def claim_verdicts(groups: Mapping[str, Mapping[str, Sequence[RunLike]]]) -> list[Verdict]:
    """The paper's claims decided from every framework's runs together.

    Args:
        groups: per framework (the primary first), finished runs per experiment.

    Returns:
        One verdict per claim of FAMILY that has runs in some framework, in FAMILY's order:
        the pooled effect decided at its Holm-adjusted p (claims without runs count as p = 1
        in the family; so do speed claims whose threshold the dataset has not fixed yet), with
        the interaction and each framework's own verdict attached.
    """
    dataset = reader.one_dataset(
        run for experiments in groups.values() for runs in experiments.values() for run in runs
    )
    tests = []
    for pair, claim in FAMILY:
        arms = arms_of(groups, pair)
        found = effects.arms_effects(list(arms.values())) if arms else []
        effect = claims.primary_effect(pair, claim, found, dataset) if found else None
        tests.append((pair, claim, arms, found, effect))
    primary = [None if e is None else claims.primary_p(c, e) for _, c, _, _, e in tests]
    adjusted = statistics.holm(primary)
    verdicts = []
    for i, (pair, claim, arms, found, effect) in enumerate(tests):
        if effect is None:
            continue
        perm_adjusted = None
        if claim == claims.SPEEDS_UP and effect.perm_p is not None:
            perm_adjusted = statistics.holm([*primary[:i], effect.perm_p, *primary[i + 1 :]])[i]
        verdict = claims.decide(pair, claim, found, dataset, adjusted[i], perm_adjusted)
        alone = tuple(
            (framework, claims.decide(pair, claim, effects.pair_effects(*arm), dataset))
            for framework, arm in arms.items()
        )
        pooled = dataclasses.replace(
            verdict, interaction=interaction(arms, effect.key), alone=alone
        )
        verdicts.append(pooled)
    return verdicts
