"""The README and docs/ hold what they point at: links and images name existing files (and
headings), `python -m bn_keras.X` names a module that exists, every flag given to
`python -m bn_keras.main` or `bn-keras` is one main defines, and every flag given to the other
commands (sweep, bench, launch, plot, and run_all.sh, which passes its own to the sweep) is one of
their settings (bn_keras/config/commands.py)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bn_keras.config import flags as config_flags
from bn_keras.reporting.paper import paper_checks
from bn_keras.runs.metrics_file import read_metrics
from bn_keras.runs.reader import Run
from bn_keras.runs.run_dir import METRICS_FILE, RESULT_FILE

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
MODULE = re.compile(r"python -m (bn_keras(?:\.\w+)*)")
MAIN_COMMAND = re.compile(r"(?:python -m bn_keras\.main|(?:^|\s)bn-keras)\b(.*)")
FLAG = re.compile(r"(?<![\w-])--(\w+)")
HELP_FLAG = re.compile(r"^\s+--(\[no\])?(\w+):", re.M)
OTHER_COMMAND = re.compile(
    r"(?:python -m bn_keras\.(?P<module>sweep|bench|launch|plot)|\./run_all\.sh)\b(?P<args>.*)"
)
EVERY_COMMAND = {"verbose", "flagfile", "help", "helpfull"}  # absl's and bn_keras.common.cli's


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of `page`, plus explicit `<a id="...">` anchors."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    anchors = set(re.findall(r'<a id="([^"]+)"', text))
    for heading in re.findall(r"^#+ +(.+?) *$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def _links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def _code(page: Path) -> list[str]:
    """The commands in `page`'s code blocks (continuation lines joined) and inline code spans."""
    text = page.read_text(encoding="utf-8")
    blocks = [b.replace("\\\n", " ") for b in FENCE.findall(text)]
    lines = [line.split(" #")[0] for block in blocks for line in block.splitlines()]
    return lines + INLINE_CODE.findall(FENCE.sub("", text))


def test_the_pages_exist():
    assert len(PAGES) > 1, "docs/ holds no page"
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_links_and_images_point_at_files_and_headings(page):
    broken = []
    for target in _links(page):
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists():
            broken.append(f"{target}: no file {path}")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {_page_id(path)}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_named_modules_exist(page):
    modules = {m for code in _code(page) for m in MODULE.findall(code)}
    missing = [m for m in sorted(modules) if importlib.util.find_spec(m) is None]
    assert not missing, f"{_page_id(page)} runs modules that do not exist: {missing}"


@pytest.fixture(scope="module")
def main_flags() -> set[str]:
    """The flag names `python -m bn_keras.main --helpfull` lists (absl exits 1 after help)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bn_keras.main", "--helpfull"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    names = set()
    for negatable, name in HELP_FLAG.findall(proc.stdout):
        names.add(name)
        if negatable:
            names.add(f"no{name}")
    assert {"model", "bn", "nobn", "flagfile"} <= names, proc.stdout[-2000:] + proc.stderr[-2000:]
    return names


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_flags_given_to_main_are_defined(page, main_flags):
    commands = [m.group(1) for code in _code(page) if (m := MAIN_COMMAND.search(code))]
    unknown = sorted({f for c in commands for f in FLAG.findall(c)} - main_flags)
    assert not unknown, f"{_page_id(page)} gives bn_keras.main flags it does not define: {unknown}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_flagfiles_named_exist(page):
    named = {f for code in _code(page) for f in re.findall(r"--flagfile=(\S+)", code)}
    missing = [f for f in sorted(named) if "<" not in f and not (ROOT / f).is_file()]
    assert not missing, f"{_page_id(page)} names flagfiles that do not exist: {missing}"


def _defined(command: str) -> set[str]:
    """The flags `python -m bn_keras.<command>` defines, `no` forms of booleans included."""
    fields = [f for cls in config_flags.COMMANDS[command] for f in dataclasses.fields(cls)]
    names = {f.name for f in fields} | {f"no{f.name}" for f in fields if f.type == "bool"}
    short = {f.metadata["short_name"] for f in fields if f.metadata.get("short_name")}
    return names | short | EVERY_COMMAND


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_flags_given_to_the_other_commands_are_defined(page):
    unknown = set()
    for code in _code(page):
        for match in OTHER_COMMAND.finditer(code):
            command = match["module"] or "sweep"  # run_all.sh hands its flags to the sweep
            own = match["args"].split(" -- ")[0] if command == "launch" else match["args"]
            unknown |= {f"{command} --{f}" for f in FLAG.findall(own)} - {
                f"{command} --{f}" for f in _defined(command)
            }
    assert not unknown, f"{_page_id(page)} gives commands flags they do not define: {unknown}"


# The flagfiles' `# Result:` lines against the committed runs: every number a line quotes
# that one of the claims below reads is recomputed from results/<name>_seed<N>/ (results/probes/
# for flags/probes/) and must match to the digits quoted. A line with no readable claim fails, so
# a reworded line cannot slip out of the check. smoke.flags quotes a fresh run, which
# scripts/check_doc_commands.py makes; recipe.flags quotes no result.
RESULT = re.compile(r"^# Result:\s*(.+)$", re.M)
ACC = r"(0\.\d{4})(?!\d)"
STEPS = r"(\d{1,3}(?:,\d{3})*)(?![\d,]\d)"
LIST_OF_STEPS = r"(\d[\d,]*(?:, \d[\d,]*)* and \d[\d,]*)"
FLAGFILES_WITH_RUNS = [
    f for f in sorted((ROOT / "flags").rglob("*.flags")) if f.stem not in ("smoke", "recipe")
]


def _committed_runs(flagfile: Path) -> dict[int, Run]:
    results = ROOT / "results" / flagfile.parent.relative_to(ROOT / "flags")
    runs = {}
    for run_dir in results.glob(f"{flagfile.stem}_seed*"):
        seed = run_dir.name.removeprefix(f"{flagfile.stem}_seed")
        if seed.isdigit() and (run_dir / RESULT_FILE).is_file():
            result = json.loads((run_dir / RESULT_FILE).read_text())
            rows = read_metrics(run_dir / METRICS_FILE)
            runs[int(seed)] = Run(flagfile.stem, int(seed), run_dir, {}, rows, result)
    return runs


def _steps(text: str) -> list[int]:
    return [int(s.replace(",", "")) for s in re.split(r", | and ", text)]


def _mean_first_step(runs: list[Run], percent: str) -> int | None:
    steps = [r.first_step_reaching(int(percent) / 100) for r in runs]
    return None if None in steps else round(statistics.fmean(steps))


def _claims(line: str, runs: dict[int, Run]) -> list[tuple[str, str, str]]:
    """(what, quoted, measured) for every number of `line` that a known phrase quotes."""
    named = re.search(r"over seeds (\d+)-(\d+)|^seed (\d+):", line)
    if named and named[3]:
        seeds = [int(named[3])]
    elif named:
        seeds = list(range(int(named[1]), int(named[2]) + 1))
    else:
        seeds = sorted(runs)
    missing = [s for s in seeds if s not in runs]
    assert not missing, f"seeds {missing} have no finished committed run"
    chosen = [runs[s] for s in seeds]
    finals = [r.final_accuracy for r in chosen]
    out = []
    if named and not named[3]:
        out.append(("the seeds named are the committed ones", named[0], f"seeds {sorted(runs)}"))
        if sorted(runs) == seeds:
            out[-1] = (out[-1][0], named[0], named[0])
    for m in re.finditer(rf"test accuracy {ACC} ± {ACC} over seeds", line):
        out.append(("mean", m[1], f"{statistics.fmean(finals):.4f}"))
        out.append(("sd", m[2], f"{statistics.stdev(finals):.4f}"))
    for m in re.finditer(rf"\(min {ACC}, max {ACC}\)", line):
        out += [("min", m[1], f"{min(finals):.4f}"), ("max", m[2], f"{max(finals):.4f}")]
    for m in re.finditer(rf"^seed (\d+): test accuracy {ACC}(?! at)", line):
        out.append((f"seed {m[1]} final", m[2], f"{runs[int(m[1])].final_accuracy:.4f}"))
    for m in re.finditer(rf"{ACC} at ([\d.]+)K", line):
        step = round(float(m[2]) * 1000)
        measured = [paper_checks.accuracy_at(r, step) for r in chosen]
        out.append((f"at {step}", m[1], " ".join(f"{a:.4f}" for a in measured if a is not None)))
    for m in re.finditer(rf"(\d\d)% (?:first )?at {STEPS}", line):
        out.append((f"{m[1]}% first at", m[2], f"{_mean_first_step(chosen, m[1]) or 0:,}"))
    for m in re.finditer(r"(\d\d)% reached by (\d+) of (\d+) seeds", line):
        reached = sum(r.first_step_reaching(int(m[1]) / 100) is not None for r in chosen)
        out.append(
            (f"{m[1]}% reached by", m[0], f"{m[1]}% reached by {reached} of {len(chosen)} seeds")
        )
    for m in re.finditer(rf"steady (?:\(within 0\.002 of final\) )?from {STEPS}", line):
        steady = round(statistics.fmean(paper_checks.steady_state_step(r) for r in chosen))
        out.append(("steady from", m[1], f"{steady:,}"))
    for m in re.finditer(
        rf"until {LIST_OF_STEPS} iterations \(first above 0\.2, seeds (\d+)-(\d+)\)", line
    ):
        measured = [runs[s].first_step_reaching(0.2) for s in range(int(m[2]), int(m[3]) + 1)]
        out.append(("first above 0.2", str(_steps(m[1])), str(measured)))
    for m in re.finditer(rf"{ACC} \(seed (\d+)\)", line):
        out.append((f"seed {m[2]} final", m[1], f"{runs[int(m[2])].final_accuracy:.4f}"))
    for m in re.finditer(rf"{ACC} \(both seeds\)", line):
        out.append(("both seeds' final", m[1], " ".join(f"{a:.4f}" for a in sorted(set(finals)))))
    for m in re.finditer(r"\(Ioffe & Szegedy: ([\d., ]+)\)", line):
        reference = paper_checks.IOFFE_FIG1A[chosen[0].experiment]  # at the steps quoted for ours
        steps = [round(float(k) * 1000) for k in re.findall(r"at ([\d.]+)K", line)]
        theirs = [reference.get(step) for step in steps]
        out.append(
            ("Ioffe & Szegedy's values", str([float(v) for v in m[1].split(", ")]), str(theirs))
        )
    return out


@pytest.mark.parametrize("flagfile", FLAGFILES_WITH_RUNS, ids=lambda f: _page_id(f))
def test_flagfile_result_lines_match_the_committed_runs(flagfile):
    (line,) = RESULT.findall(flagfile.read_text(encoding="utf-8"))
    runs = _committed_runs(flagfile)
    assert runs, f"{_page_id(flagfile)} quotes a result but results/ holds none of its runs"
    claims = _claims(line, runs)
    assert claims, f"{_page_id(flagfile)}: no number of its Result line is checked: {line}"
    wrong = [f"{what}: quoted {q}, committed runs give {m}" for what, q, m in claims if q != m]
    assert not wrong, f"{_page_id(flagfile)}: " + "; ".join(wrong)


def test_the_result_check_reads_a_stale_line_as_stale():
    runs = _committed_runs(ROOT / "flags" / "lenetr_bn.flags")
    stale = "test accuracy 0.9928 ± 0.0005 over seeds 0-2; 99% first at 1,433 iterations"
    claims = _claims(stale, runs)
    assert [what for what, quoted, measured in claims if quoted != measured] == [
        "the seeds named are the committed ones"
    ]
    assert _claims("99% first at 1,433 iterations", runs)[0][2] == "1,350"


def test_the_readme_quotes_a_flagfile_result_as_the_runs_give_it():
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    quotes = re.findall(r"for `(flags/[\w/]+\.flags)`: ([^(]+)", text)
    assert quotes, "the README no longer quotes a flagfile's result"
    for flagfile, quote in quotes:
        claims = _claims(quote, _committed_runs(ROOT / flagfile))
        wrong = [f"{what}: quoted {q}, runs give {m}" for what, q, m in claims if q != m]
        assert claims and not wrong, f"README on {flagfile}: {quote}: {wrong}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_training_examples_write_where_no_committed_run_is(page):
    """A fenced example that trains goes into a scratch directory, under a run name of its own or
    is the smoke run (results/smoke/): never onto a committed run or into the summary."""
    text = page.read_text(encoding="utf-8")
    blocks = re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, re.S | re.M)
    examples = [line.split(" #")[0] for b in blocks for line in b.replace("\\\n", " ").splitlines()]
    unsafe = [
        e
        for e in examples
        if MAIN_COMMAND.search(e)
        and "--print_config" not in e
        and not re.search(r"--results_dir=/tmp/|--run_name=|--flagfile=flags/smoke\.flags", e)
    ]
    assert not unsafe, f"{_page_id(page)} trains into results/: {unsafe}"
