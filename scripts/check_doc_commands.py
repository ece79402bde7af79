"""Runs every shell command of the README's and docs/' fenced bash blocks in a fresh clone.

Usage (with the project's environment active, e.g. `source .venv/bin/activate` after
`./run_tests.sh`; CI runs it from .ci/run):

    python scripts/check_doc_commands.py [--list] [--only=REGEX] [--keep] [--timeout=600]

It clones this checkout's HEAD (`git clone`, so uncommitted changes are not in it) into a
temporary directory and runs each command there with bash, in page order (README.md, then
docs/*.md), one at a time, in the active virtual environment ($VIRTUAL_ENV, nothing is
installed) with the clone first on PYTHONPATH, so the clone's code is what runs. Training is
shortened by appending flags (SHORTEN below), and `/tmp/` in a command is the clone's own
scratch directory, so every example runs as on a first try. After each command it checks the
exit status and that `git status` shows no committed file changed, unless the command's line
says so with a `# changes: PATH[,PATH]` comment (then only those paths may change); changed
files are restored before the next command. Commands it cannot run here are listed with the
reason (NOT_RUN), never skipped silently. It prints one line per command with its exit code and
seconds, then a verdict; exit status 1 when a command failed.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs/*.md")
SHELL_FENCES = ("bash", "sh", "shell", "console")
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
CHANGES = re.compile(r"#\s*changes:\s*(\S+)")
SCRATCH = "/tmp/"  # in a command: the clone's scratch directory

# (pattern, reason): commands this check does not run, each with why.
NOT_RUN = (
    (r"^\./run_tests\.sh\b", "the test suite: CI runs it (.ci/run) right before this check"),
    (r"^source \.venv/bin/activate\b", "the check runs in the active environment ($VIRTUAL_ENV)"),
    (r"^pip install\b", "installs packages from the internet into the environment"),
    (r"TF_CONFIG=.*host\d", "needs a cluster: one command per host (host1, host2)"),
)
# (pattern, flags appended, why): training shortened to the smoke settings of run_all.sh --quick
# (200 iterations, evaluation every 50). The first match applies. A sweep runs the MLP pair only
# unless the command names its experiments: every flagfile and the sweep's logic have tests of
# their own, and on 2 busy cores the full --quick sweep alone took over 10 minutes.
QUICK_MAIN = "--train_steps=200 --eval_every=50"
QUICK_SWEEP = "--quick --seeds=2 --max_seeds=2"  # no seeds added: 200-iteration runs rarely decide
# The bench's sweep section is checked by its --quick command; here the speed options only.
BENCH = "--networks=mlp_bn --options=keras_bn --reps=1 --seconds=0.3 --sections=speed_options"
SWEEP = r"(^\./run_all\.sh|python -m bn_keras\.sweep)\b"
SHORTEN = (
    (SWEEP + r"(?!.*--experiments)", f"{QUICK_SWEEP} --experiments=mlp,mlp_bn", "the MLP pair"),
    (SWEEP, QUICK_SWEEP, "the experiments named, 2 seeds"),
    (r"(python -m bn_keras\.main|^bn-keras)\b.*--print_config", "", "trains nothing"),
    (r"(python -m bn_keras\.main|^bn-keras)\b.*flags/smoke\.flags", "", "already the smoke run"),
    (r"(python -m bn_keras\.main|^bn-keras)\b", QUICK_MAIN, "run_all.sh --quick's run length"),
    (r"python -m bn_keras\.bench\b.*--networks=", "--reps=1 --seconds=0.3", "one short repetition"),
    # Even --quick builds 13 models per network: over 10 minutes on 2 busy cores.
    (r"python -m bn_keras\.bench\b.*--quick", "--options=keras_bn", "Keras's BN and the default"),
    (r"python -m bn_keras\.bench\b", BENCH, "one network, Keras's BN and the default"),
)
# (pattern, flags appended, seconds): servers; they pass when still serving after that long.
SERVERS = ((r"^tensorboard\b", "--port=0", 20),)
# (pattern, Python module, reason): commands that need an optional package.
NEEDS_MODULE = (
    (r"--framework=pytorch", "torch", "needs torch (docs/twin.md says how to install it)"),
    (r"--executor=ray", "ray", "needs Ray (pip install -e .[ray], docs/cluster.md)"),
)


@dataclass
class Command:
    """One command of a page: where it is, its text and what the check does with it."""

    page: str
    line: int
    text: str
    changes: list[str] = field(default_factory=list)
    appended: str = ""
    not_run: str = ""
    server_s: float = 0

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def to_run(self) -> str:
        return f"{self.text} {self.appended}".strip()


def commands(root: Path) -> list[Command]:
    """The shell commands of the pages' fenced bash blocks, continuation lines joined."""
    found = []
    pages = [p for pattern in PAGES for p in sorted(root.glob(pattern))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for fence in FENCE.finditer(text):
            if fence[1].strip().split(" ")[0] not in SHELL_FENCES:
                continue
            first = text.count("\n", 0, fence.start(2)) + 1
            pending, start = "", 0
            for offset, raw in enumerate(fence[2].splitlines()):
                if not pending:
                    start = first + offset
                if raw.rstrip().endswith("\\"):
                    pending += raw.rstrip()[:-1] + " "
                    continue
                line, pending = (pending + raw).strip(), ""
                if line and not line.startswith("#"):
                    found.append(_plan(Command(str(page.relative_to(root)), start, line)))
    return found


def _plan(command: Command) -> Command:
    text = command.text
    command.changes = [p for m in CHANGES.finditer(text) for p in m[1].split(",")]
    code = text.split(" #")[0] if " #" in text else text
    for pattern, reason in NOT_RUN:
        if re.search(pattern, code):
            command.not_run = reason
            return command
    for pattern, module, reason in NEEDS_MODULE:
        if re.search(pattern, code) and not _importable(module):
            command.not_run = reason
            return command
    command.text = code.strip()
    for pattern, appended, seconds in SERVERS:
        if re.search(pattern, code):
            command.appended, command.server_s = appended, seconds
            return command
    for pattern, appended, _ in SHORTEN:
        if re.search(pattern, code):
            command.appended = appended
            return command
    return command


def _importable(module: str) -> bool:
    probe = [
        sys.executable,
        "-c",
        f"import importlib.util as u; exit(u.find_spec({module!r}) is None)",
    ]
    return subprocess.run(probe, check=False).returncode == 0


def _git(clone: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=clone, capture_output=True, text=True, check=True
    ).stdout


def _changed(clone: Path) -> list[str]:
    """Committed files changed or deleted in the clone."""
    return [line[3:] for line in _git(clone, "status", "--porcelain", "-uno").splitlines()]


def _untracked(clone: Path) -> set[str]:
    return {
        line[3:] for line in _git(clone, "status", "--porcelain").splitlines() if line[:2] == "??"
    }


def _stop(proc: subprocess.Popen) -> None:
    """Stops a command and every process it started (its own session)."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _run(command: Command, clone: Path, scratch: Path, env: dict, timeout: float, log: Path):
    """Runs one command; returns (exit code, seconds, CPU seconds, output tail). The CPU time is
    that of the command and the processes it waited for: on a busy machine, what it costs."""
    text = command.to_run.replace(SCRATCH, f"{scratch}/")
    start, cpu = time.monotonic(), _children_cpu()
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", text],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=command.server_s or timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            code = 0 if command.server_s else 124  # a server still serving passes
        except BaseException:  # Ctrl-C: stop the command's processes too
            _stop(proc)
            raise
    tail = log.read_text(errors="replace").splitlines()[-15:]
    return code, time.monotonic() - start, _children_cpu() - cpu, tail


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the plan, run nothing")
    parser.add_argument("--only", default="", help="run only commands matching this regex")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its logs")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per command")
    args = parser.parse_args()
    planned = commands(REPO)
    if args.list:
        for c in planned:
            what = f"not run: {c.not_run}" if c.not_run else f"+ {c.appended}" if c.appended else ""
            print(f"{c.where:26} {c.text}  [{what}]")
        return 0
    if not os.environ.get("VIRTUAL_ENV"):
        print(
            "check_doc_commands: error: no virtual environment is active; run ./run_tests.sh "
            "once, then: source .venv/bin/activate",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="bn_keras_doc_commands."))
    clone, scratch, logs = work / "clone", work / "scratch", work / "logs"
    scratch.mkdir()
    logs.mkdir()
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    dirty = _git(REPO, "status", "--porcelain", "-uno").splitlines()
    head = _git(clone, "rev-parse", "--short", "HEAD").strip()
    print(
        f"check_doc_commands: a fresh clone of {REPO} at {head} in {clone}, environment "
        f"{os.environ['VIRTUAL_ENV']}"
        + (f"; {len(dirty)} uncommitted changes are not in it" if dirty else "")
    )
    env = {k: v for k, v in os.environ.items() if k != "BN_KERAS_ENV"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(clone), env.get("PYTHONPATH")) if p)
    planned = commands(clone)  # the clone's pages: what was committed
    selected = [c for c in planned if re.search(args.only, c.text)]
    results = {"passed": 0, "failed": 0, "not run": 0, "same as an earlier one": 0}
    ran: dict[str, str] = {}
    cpu_total = 0.0
    start = time.monotonic()
    for number, c in enumerate(selected, 1):
        if c.not_run:
            results["not run"] += 1
            print(f"{'NOT RUN':35}{c.where:26} {c.text}\n{'':62}({c.not_run})", flush=True)
            continue
        if c.to_run in ran:
            results["same as an earlier one"] += 1
            print(f"{'SAME':35}{c.where:26} {c.to_run}  (as {ran[c.to_run]})", flush=True)
            continue
        ran[c.to_run] = c.where
        before = _untracked(clone)
        log = logs / f"{number:02d}.log"
        code, seconds, cpu, tail = _run(c, clone, scratch, env, args.timeout, log)
        cpu_total += cpu
        changed = _changed(clone)
        unexpected = [p for p in changed if not any(p.startswith(a) for a in c.changes)]
        ok = code == 0 and not unexpected
        results["passed" if ok else "failed"] += 1
        shown = c.to_run if not c.appended else f"{c.text}  [+ {c.appended}]"
        print(
            f"{'PASS' if ok else 'FAIL'} rc={code:<3} {seconds:6.1f} s (cpu {cpu:5.1f} s) "
            f"{c.where:26} {shown}",
            flush=True,
        )
        if code != 0:
            print("\n".join(f"    | {line}" for line in tail), flush=True)
        if unexpected:
            print(
                f"    changed committed files it does not say it changes: {', '.join(unexpected)}"
            )
        if new := sorted(_untracked(clone) - before):
            print(f"    new untracked files: {', '.join(new[:5])}{' ...' if len(new) > 5 else ''}")
        if changed:
            _git(clone, "checkout", "--", ".")
    total = time.monotonic() - start
    verdict = "FAILED" if results["failed"] else "OK"
    counts = ", ".join(f"{n} {what}" for what, n in results.items() if n)
    print(
        f"check_doc_commands: {verdict}: {counts} of {len(selected)} commands; "
        f"{total:.0f} s, {cpu_total:.0f} s of CPU time"
    )
    if args.keep:
        print(f"check_doc_commands: kept {work} (logs in {logs})")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
