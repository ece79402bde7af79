"""The probes' table: each measure without and with BN, and the issue's questions answered."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from bn_keras.common.atomic import write_text_atomic
from bn_keras.reporting.summary import Run
from bn_keras.runs.metrics_file import read_metrics
from bn_keras.runs.run_dir import ACTIVATIONS_FILE, ICS_FILE, LANDSCAPE_FILE

SUMMARY_FILE = "summary.md"


@dataclasses.dataclass(frozen=True)
class Measure:
    """One measure of a network over its probe steps after step 0, without and with BN."""

    name: str
    without: np.ndarray
    with_bn: np.ndarray

    @property
    def ratio(self) -> float:
        """Median with BN over median without."""
        return float(np.median(self.with_bn) / np.median(self.without))

    @property
    def higher_is_better(self) -> bool:
        """True for the cosine, where higher means less shift."""
        return "cos" in self.name

    @property
    def bn_better(self) -> tuple[int, int]:
        """(probe steps where BN's value is lower, or higher for the cosine; steps compared)."""
        n = min(len(self.without), len(self.with_bn))
        better = self.with_bn[:n] > self.without[:n]
        if not self.higher_is_better:
            better = self.with_bn[:n] < self.without[:n]
        return int(np.sum(better)), n


def _rows(run: Run, name: str, after: float) -> list[dict]:
    return [r for r in read_metrics(run.run_dir / name) if r["step"] > after]


def _column(rows: list[dict], fn) -> np.ndarray:
    return np.array([fn(r) for r in rows])


def _ics(rows: list[dict], what: str) -> np.ndarray:
    """Mean over the layers after the first (the first one's is 0 by definition) of `what`."""
    layers = [k.split(":")[0] for k in rows[0] if k.endswith(":ics_l2")][1:]
    if what == "relative":
        return _column(
            rows, lambda r: np.mean([r[f"{n}:ics_l2"] / r[f"{n}:grad_norm"] for n in layers])
        )
    return _column(rows, lambda r: np.mean([r[f"{n}:{what}"] for n in layers]))


MEASURES = {
    "loss variation: max - min over eta of L(W - eta g)": (
        LANDSCAPE_FILE,
        lambda rows: _column(rows, lambda r: r["loss_max"] - r["loss_min"]),
    ),
    "gradient change: max over eta of ‖grad L(W - eta g) - g‖": (
        LANDSCAPE_FILE,
        lambda rows: _column(rows, lambda r: r["grad_diff_max"]),
    ),
    "effective beta-smoothness": (
        LANDSCAPE_FILE,
        lambda rows: _column(rows, lambda r: r["beta_smoothness"]),
    ),
    "ICS ‖G - G'‖ (mean over layers 2..L)": (ICS_FILE, lambda rows: _ics(rows, "ics_l2")),
    "ICS ‖G - G'‖ / ‖G‖": (ICS_FILE, lambda rows: _ics(rows, "relative")),
    "ICS cos(G, G') (higher: less shift)": (ICS_FILE, lambda rows: _ics(rows, "ics_cos")),
    "eta_eff = ‖Adadelta step‖ / ‖g‖": (
        LANDSCAPE_FILE,
        lambda rows: _column(rows, lambda r: r["eta_eff"]),
    ),
}


def measures(pairs: list[tuple[Run, Run]], after: float = 0) -> list[Measure]:
    """Every measure of MEASURES for one network, over the probe steps after `after` of every
    seed (pairs of runs without and with BN of one seed, compared step by step)."""
    out = []
    for name, (file, fn) in MEASURES.items():
        without, with_bn = [], []
        for base_run, bn_run in pairs:
            a, b = fn(_rows(base_run, file, after)), fn(_rows(bn_run, file, after))
            n = min(len(a), len(b))
            without.append(a[:n])
            with_bn.append(b[:n])
        out.append(Measure(name, np.concatenate(without), np.concatenate(with_bn)))
    return out


def probe_seconds(run: Run) -> float:
    """Seconds spent inside the probes during the run."""
    return sum(
        sum(r["probe_s"] for r in read_metrics(run.run_dir / f))
        for f in (ACTIVATIONS_FILE, LANDSCAPE_FILE, ICS_FILE)
    )


def _fmt(value: float) -> str:
    return f"{value:.3g}"


CLEAR = 0.65  # the share of probe steps on one side needed to call a difference


def _answer(measure: Measure) -> str:
    """yes / no, the opposite / unclear, by the share of steps where BN is better."""
    better, n = measure.bn_better
    if better >= CLEAR * n:
        verdict = "**yes**"
    elif better <= (1 - CLEAR) * n:
        verdict = "**no, BN raises it**" if not measure.higher_is_better else "**no, more shift**"
    else:
        verdict = "unclear"
    return f"{verdict} (x{measure.ratio:.2f}; better with BN at {better} of {n} steps)"


def markdown(pairs: dict[str, list[tuple[Run, Run]]], command: str | None, wall: str | None) -> str:
    """summary.md: provenance, the per-network table, cost, and the answers."""
    first = next(iter(pairs.values()))[0][0].record
    seeds = sorted({run.seed for ps in pairs.values() for pair in ps for run in pair})
    lines = ["# Probes: how does BatchNorm help? (issue 6)", ""]
    lines += [f"- Command: `{command}`"] if command else []
    lines += [f"- Wall time of this command: {wall}"] if wall else []
    runs = [run for ps in pairs.values() for pair in ps for run in pair]
    commits = sorted({r.record.get("versions", {}).get("git_commit") or "?" for r in runs})
    config = first.get("config", {})
    lines += [
        f"- Commit(s): {', '.join(commits)}; seed(s) {', '.join(map(str, seeds))}; "
        f"{config.get('train_steps')} iterations, probes every {config.get('probe_every')} "
        f"(activations) and {config.get('landscape_every')} (landscape, ICS) iterations",
        "- Values: median over the probe steps after step 0 of every seed. 'Better with BN at k "
        "of n steps' counts the probe steps (of every seed, each compared with the same step of "
        "the same seed without BN) where the network with BN has the lower value (for the cosine: "
        f"the higher, less shift); 'does BN reduce it?' is yes when k >= {CLEAR:.0%} of n, the "
        f"opposite when k <= {1 - CLEAR:.0%} of n, unclear otherwise; xR is the median with BN "
        "over the median without. The last columns take only "
        "the second half of training, after the early phase (the plateau of sigmoid LeNet "
        "without BN).",
        "",
        "| network | measure | without BN | with BN | does BN reduce it? | 2nd half: without BN "
        "| with BN | does BN reduce it? |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    half = config.get("train_steps", 0) / 2
    for base, network_pairs in pairs.items():
        for m, late in zip(measures(network_pairs), measures(network_pairs, after=half)):
            cells = [f"`{base}`", m.name]
            for x in (m, late):
                answer = "" if x.name.startswith("eta_eff") else _answer(x)
                cells += [_fmt(np.median(x.without)), _fmt(np.median(x.with_bn)), answer]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Runs and probe cost", ""]
    lines += [
        "| run | final test accuracy | wall time (s) | inside probes (s) | probe cost "
        "(share of the time without probes) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for network_pairs in pairs.values():
        for run in (run for pair in network_pairs for run in pair):
            wall_s = run.rows[-1]["elapsed_s"]
            probes_s = probe_seconds(run)
            lines.append(
                f"| `{run.run_dir.name}` | {run.rows[-1]['test_accuracy']:.4f} | {wall_s:.0f} | "
                f"{probes_s:.0f} | {100 * probes_s / (wall_s - probes_s):.0f}% |"
            )
    return "\n".join(lines) + "\n"


def write_summary(
    pairs: dict[str, list[tuple[Run, Run]]],
    results_dir: Path,
    command: str | None,
    wall: str | None,
) -> Path:
    """Writes summary.md into `results_dir` atomically; returns its path."""
    path = Path(results_dir) / SUMMARY_FILE
    write_text_atomic(path, markdown(pairs, command, wall))
    return path
