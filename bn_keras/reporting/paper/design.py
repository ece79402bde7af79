"""The fixed design the verdicts follow, said once: summary.md prints it before any result.

What is fixed: the seeds per arm, each claim's primary quantity and threshold, how the two
frameworks are pooled, the multiplicity correction, the margin (and when and why it was fixed),
the wording rule, and what the seed-adding sweep is (exploratory).
"""

from __future__ import annotations

from bn_keras.config.commands import DESIGN_SEEDS
from bn_keras.config.datasets import Dataset
from bn_keras.reporting.paper import claims
from bn_keras.reporting.paper.findings import FAMILY
from bn_keras.reporting.statistics import ACCURACY_MARGIN, ALPHA, POWER

SEEDS_PER_ARM = DESIGN_SEEDS  # seeds 0-9 of every pair, in each framework the design names
FRAMEWORKS = ("keras", "pytorch")


def frameworks_of(pair: str, dataset: Dataset) -> tuple[str, ...]:
    """The frameworks the design of `dataset` runs `pair` in."""
    return dataset.design_frameworks.get(pair, FRAMEWORKS)


def margin_text(dataset: Dataset) -> str:
    """The margin, in accuracy and test images, and the dataset's reasons for it."""
    return (
        f"±{ACCURACY_MARGIN} in accuracy ({ACCURACY_MARGIN * 100:.1f} percentage points, "
        f"{ACCURACY_MARGIN * 10_000:.0f} of the 10,000 test images). {dataset.margin_note}"
    )


# Simulated by tests/test_adaptive_error_rates.py (40,000 repeats per cell), which holds these
# figures, and experiments/adaptive.py's, to its output.
ERROR_RATES = (
    "exploratory: optional stopping from 3 to 10 seeds per arm. Simulated on normal data "
    "(tests/test_adaptive_error_rates.py), its false-positive rate at a true effect of 0 is "
    "3.6%, 8.0% and 13.7% at seed SDs of 0.0005, 0.001 and 0.002, and its false-equivalence "
    "rate at a true effect on the margin 13.1%, 13.4% and 10.0%, where the fixed 10-seed design "
    "holds 4.5-5.0% (and 4.3% family-wise with Holm across five null claims)"
)


def _primary(pair: str, claim: str, dataset: Dataset) -> str:
    if claim == claims.SPEEDS_UP:
        threshold = claims.primary_threshold(pair, dataset)
        if threshold is None:
            return "iterations to a threshold not yet fixed: no verdict until the design fixes it"
        return (
            f"iterations to {threshold:.0%}, restricted mean at 10,000 (RMST); Welch's test of "
            "zero, an exact or 10,000-draw permutation test beside it"
        )
    if claim == claims.NO_DIFFERENCE:
        return f"final accuracy; TOST at ±{ACCURACY_MARGIN}"
    return "final accuracy; Welch's test of zero"


def design_lines(dataset: Dataset) -> list[str]:
    """The design as markdown bullets, for the top of summary.md of runs on `dataset`."""
    primary = [f"  - `{pair}`: {claim}: {_primary(pair, claim, dataset)}" for pair, claim in FAMILY]
    return [
        f"- Seeds: {dataset.seeds_note}. A pair with fewer seeds is reported, marked as short "
        "of the design.",
        "- Primary quantity and test of each claim (the thresholds of the speed claims: "
        f"{dataset.threshold_note}):",
        *primary,
        "- Both frameworks together: each claim's primary estimate is the BN effect averaged "
        "over the frameworks that ran both arms of its pair, (Keras effect + PyTorch effect) / "
        "2 where both did, with its Welch (Satterthwaite) 95% interval; beside it the "
        "interaction, Keras effect - PyTorch effect with its interval (do the frameworks "
        "agree?), and each framework's own result.",
        f"- Multiplicity: Holm's step-down correction across all {len(FAMILY)} primary claims "
        f"together, family-wise level {ALPHA}. REPRODUCED needs a Holm-adjusted p below "
        f"{ALPHA} in the claimed direction (for the speed claims a permutation p that does not "
        "confirm it is said beside the verdict: normal theory only). NOT REPRODUCED is read at "
        "the unadjusted 5% level: for a difference claim a 95% interval on the wrong side of "
        "zero, or (for accuracy, with an interval spanning zero) TOST equivalence; for the "
        "equivalence claim a 95% interval wholly beyond the margin. Anything else is UNDECIDED.",
        f"- Margin: {margin_text(dataset)}.",
        "- Secondary, unadjusted and descriptive: the other thresholds, best accuracy, each "
        "framework's own verdicts, the ReLU LeNet-5's convergence and the Keras - PyTorch table "
        "per experiment. No correction is applied to any of them, to none selectively.",
        "- One wording rule for every effect with a margin: a 95% interval that excludes zero "
        "and passes TOST is 'a real effect inside the margin'; one that excludes zero and lies "
        "beyond the margin 'a real effect beyond the margin'; one that excludes zero otherwise "
        "'a real effect, whether beyond the margin is open'; one that spans zero and passes "
        "TOST 'no difference beyond the margin'; anything else 'open'. Iterations have no "
        "margin: 'BN sooner/later by N iterations' or 'open'.",
        f"- Seeds that would decide (UNDECIDED): the smallest seeds per arm at which the test "
        f"would decide with {POWER:.0%} power if the estimate and SDs were the truth, at the "
        "unadjusted level.",
        f"- The sweep's seed-adding mode (`--until_decided`) is {ERROR_RATES}; no verdict here "
        "depends on it.",
    ]
