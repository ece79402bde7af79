"""Bad input through the real command line, one table row each.

What every row must show:
- a non-zero exit status (2 for settings, 1 for what goes wrong once TensorFlow runs);
- exactly one stderr line starting with `bn_keras: error: `, the last non-empty line, naming the
  problem (the row's `names`); no line anywhere containing "Traceback";
- rows refused before TensorFlow loads (`before_tf`): that line is all of stderr;
- no file that existed before changed: every file under the test's directories (results, data,
  flagfiles) is hashed before and after. The run directory's `.lock` is left out: it holds the
  pid of whichever process last took the lock.

Rows refused before TensorFlow loads run through bn_keras.main's entry point in this process
(`main_here`: the same parsing, checks and error line, in milliseconds), and one of them through
the real command line. The rows that need TensorFlow, and the full disk last, run through the
same entry point in one fresh interpreter (TensorFlow starts once, not 5-10 s per row). Checks
that need no command line at all are made directly (IN_PROCESS): the same checks bn_keras.main
calls.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from bn_keras.common.errors import ConfigError
from bn_keras.config import checks, datasets
from bn_keras.config import settings as config_lib
from bn_keras.distribution import cluster
from bn_keras.runs import run_dir

MNIST = datasets.get("mnist")

PREFIX = "bn_keras: error: "
# The run that rows about existing run directories find there (a finished run, or resumable
# from its checkpoint at iteration 20 once result.json is gone).
RUN = {
    "model": "lenetr",
    "bn": True,
    "train_steps": 20,
    "eval_every": 10,
    "checkpoint_every": 10,
    "batch_size": 32,
    "test_batch_size": 50,
    "export": False,
    "dataset_source": "offline",
    "deterministic": True,
}
RUN_NAME = "run"


@dataclasses.dataclass(frozen=True)
class Env:
    """Where a row runs: `tmp` holds everything a row may set up; `run` is RUN's directory."""

    tmp: Path
    data_dir: str
    template: Path

    @property
    def results(self) -> Path:
        return self.tmp / "results"

    @property
    def run(self) -> Path:
        return self.results / RUN_NAME

    def file(self, name: str, text: str = "x\n") -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path


@dataclasses.dataclass(frozen=True)
class Row:
    """One bad input: the flags (built from the Env), what the error line names, and how."""

    flags: Callable[[Env], list[str]]
    names: str
    setup: Callable[[Env], object] | None = None
    code: int = 2
    before_tf: bool = True
    env: Callable[[Env], dict] | None = None
    file_size_limit: int | None = None


def _run_flags(e: Env, **changes) -> list[str]:
    values = {**RUN, **changes}
    flags = [f"--{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items()]
    flags += [f"--data_dir={e.data_dir}", f"--results_dir={e.results}"]
    return [*flags, f"--run_name={RUN_NAME}"]


def _stack_flags(e: Env, seeds: str) -> list[str]:
    """RUN's settings as a stack of `seeds`: each seed's directory is <model>[_bn]_seed<s>."""
    return [*_run_flags(e)[:-1], f"--seeds={seeds}"]


def _copy_run(e: Env, finished: bool = False, name: str = RUN_NAME) -> None:
    shutil.copytree(e.template, e.results / name)
    if not finished:
        (e.results / name / run_dir.RESULT_FILE).unlink()


def _corrupt_state(e: Env) -> None:
    _copy_run(e)
    (e.run / run_dir.CHECKPOINT_DIR / "state.json").write_text("{not json")


def _corrupt_index(e: Env) -> None:
    _copy_run(e)
    for index in (e.run / run_dir.CHECKPOINT_DIR).glob("*.index"):
        index.write_bytes(b"garbage")


def _cut_metrics(e: Env) -> None:
    """The metrics file cut in the middle of the row for iteration 10; the checkpoint is at 20."""
    _copy_run(e)
    metrics = e.run / run_dir.METRICS_FILE
    text = metrics.read_text()
    row10 = text.index("\n10,") + 1
    metrics.write_text(text[: row10 + 12])


def _foreign_dir(e: Env) -> None:
    e.run.mkdir(parents=True)
    (e.run / run_dir.METRICS_FILE).write_text("precious\n")


def _locked(e: Env) -> int:
    _copy_run(e)
    return run_dir.lock(e.run)  # as if another process were running it; closed after the row


def _tampered_dataset(e: Env) -> None:
    shutil.copytree(e.data_dir, e.tmp / "tfds")
    dataset = Path(tfds.builder("mnist", data_dir=str(e.tmp / "tfds")).data_dir)
    shard = next(dataset.glob("mnist-train.tfrecord*"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))


def _no_wheel_and_no_index(e: Env) -> dict:
    return {"BN_KERAS_CACHE": str(e.tmp / "empty_cache"), "PIP_NO_INDEX": "1"}


def _binary_file(e: Env) -> Path:
    path = e.tmp / "binary.flags"
    path.write_bytes(b"\xff\xfe--model=mlp\n")
    return path


def _unwritable_dir(e: Env) -> Path:
    """A directory this process cannot write into (root ignores permissions: use /proc/sys)."""
    if os.geteuid() != 0:
        path = e.tmp / "read_only"
        path.mkdir()
        path.chmod(0o555)
        return path
    if os.access("/proc/sys", os.W_OK):
        pytest.skip("running as root and /proc/sys is writable: no unwritable directory")
    return Path("/proc/sys")


# One row per bad input: its flags (and environment, setup) and what the error line names.
ROWS = {
    # Flag values.
    "unknown model": Row(lambda e: ["--model=resnet"], "--model"),
    "zero steps": Row(lambda e: ["--train_steps=0"], "--train_steps"),
    "negative steps": Row(lambda e: ["--train_steps=-5"], "--train_steps"),
    "steps not an integer": Row(lambda e: ["--train_steps=1e3"], "--train_steps"),
    "zero batch": Row(lambda e: ["--batch_size=0"], "--batch_size"),
    "batch not a number": Row(lambda e: ["--batch_size=abc"], "--batch_size"),
    "zero learning rate": Row(lambda e: ["--learning_rate=0"], "--learning_rate"),
    "rho of one": Row(lambda e: ["--rho=1"], "--rho"),
    "negative adadelta epsilon": Row(lambda e: ["--adadelta_epsilon=-1"], "--adadelta_epsilon"),
    "lr decay above one": Row(lambda e: ["--lr_decay=1.5"], "--lr_decay"),
    "negative seed": Row(lambda e: ["--seed=-1"], "--seed"),
    "unknown strategy": Row(lambda e: ["--strategy=tpu_pod"], "--strategy"),
    "bool flag not a bool": Row(lambda e: ["--bn=maybe"], "--bn"),
    "unknown init": Row(lambda e: ["--init=xavier"], "--init"),
    "devices without a strategy that takes them": Row(lambda e: ["--devices=/gpu:0"], "--devices"),
    "unknown sync_bn": Row(lambda e: ["--sync_bn=sometimes"], "--sync_bn"),
    "devices this machine lacks": Row(
        lambda e: [*_run_flags(e, strategy="one_device", devices="/gpu:7"), "--run_name=fresh"],
        "--devices names '/gpu:7', which this machine does not have: its devices are /cpu:0",
        before_tf=False,
    ),
    "devices that are not device names": Row(
        lambda e: [*_run_flags(e, strategy="mirrored", devices="banana"), "--run_name=fresh"],
        "--devices names 'banana'",
        before_tf=False,
    ),
    "tpu without a TPU": Row(
        lambda e: [*_run_flags(e, strategy="tpu"), "--run_name=fresh"],
        "--strategy=tpu needs a TPU",
        before_tf=False,
    ),
    "multi_worker without TF_CONFIG": Row(lambda e: ["--strategy=multi_worker"], "TF_CONFIG"),
    "TF_CONFIG not JSON": Row(
        lambda e: _run_flags(e), "TF_CONFIG is not valid JSON", env=lambda e: {"TF_CONFIG": "{"}
    ),
    "TF_CONFIG task outside its cluster": Row(
        lambda e: _run_flags(e),
        "TF_CONFIG has task index 3",
        env=lambda e: {"TF_CONFIG": cluster.make_tf_config(["127.0.0.1:1", "127.0.0.1:2"], 3)},
    ),
    # Contradictory flags.
    "eval interval above the run": Row(
        lambda e: ["--train_steps=100", "--eval_every=200"], "--eval_every"
    ),
    "steps per execution not dividing": Row(
        lambda e: ["--steps_per_execution=3", "--eval_every=10", "--train_steps=30"],
        "--steps_per_execution",
    ),
    "checkpoint interval off the evaluations": Row(
        lambda e: ["--eval_every=100", "--checkpoint_every=150"], "--checkpoint_every"
    ),
    # Command line and flagfiles.
    "unknown flag": Row(lambda e: ["--no_such_flag=1"], "no_such_flag"),
    "positional argument": Row(lambda e: ["positional"], "unexpected arguments"),
    "missing flagfile": Row(lambda e: ["--flagfile=flags/no_such.flags"], "no_such.flags"),
    "flagfile is a directory": Row(lambda e: [f"--flagfile={e.tmp}"], "is a directory, not a file"),
    "flagfile naming a missing flagfile": Row(
        lambda e: [f"--flagfile={e.file('outer.flags', '--flagfile=inner_missing.flags')}"],
        "inner_missing.flags",
    ),
    "bad value inside a flagfile": Row(
        lambda e: [f"--flagfile={e.file('bad.flags', '--model=resnet')}"], "--model"
    ),
    "flagfile including itself": Row(
        lambda e: [f"--flagfile={e.file('self.flags', f'--flagfile={e.tmp}/self.flags')}"],
        "includes itself",
    ),
    "flagfile including itself under another name": Row(
        lambda e: [f"--flagfile={e.file('again.flags', f'--flagfile={e.tmp}/./again.flags')}"],
        "includes itself",
    ),
    "flagfiles including each other": Row(
        lambda e: [
            f"--flagfile={e.file('one.flags', f'--flagfile={e.tmp}/two.flags')}",
            f"--flagfile={e.file('two.flags', f'--flagfile={e.tmp}/one.flags')}",
        ],
        "includes itself",
    ),
    "flagfile that is not text": Row(
        lambda e: [f"--flagfile={_binary_file(e)}"], "is not UTF-8 text"
    ),
    # Where results go.
    "results dir is a file": Row(lambda e: [f"--results_dir={e.file('a_file')}"], "is a file"),
    "results dir under a file": Row(
        lambda e: [f"--results_dir={e.file('a_file')}/below"], "lies under the file"
    ),
    "results dir unwritable": Row(
        lambda e: [f"--results_dir={_unwritable_dir(e)}/results"], "not writable"
    ),
    "results dir with a name too long": Row(
        lambda e: [f"--results_dir={e.tmp / ('x' * 300)}"], "File name too long"
    ),
    "data dir is a file": Row(lambda e: [f"--data_dir={e.file('a_file')}"], "--data_dir"),
    "data dir under a file": Row(
        lambda e: [f"--data_dir={e.file('a_file')}/tfds"], "lies under the file"
    ),
    "run name with a slash": Row(lambda e: ["--run_name=../elsewhere"], "--run_name"),
    "run name of dots": Row(lambda e: ["--run_name=.."], "is not a name"),
    "run name with a control character": Row(lambda e: ["--run_name=a\tb"], "not printable"),
    "run name not valid text": Row(lambda e: ["--run_name=caf\udce9"], "not printable"),
    "run name too long": Row(lambda e: ["--run_name=" + "r" * 201], "longer than 200 bytes"),
    # Existing run directories.
    "foreign files in the run dir": Row(
        lambda e: _run_flags(e), "not a readable bn_keras run directory", _foreign_dir
    ),
    "finished run": Row(
        lambda e: _run_flags(e), "holds a finished run", lambda e: _copy_run(e, finished=True)
    ),
    "other settings on an existing run": Row(
        lambda e: _run_flags(e, batch_size=16, seed=3),
        "--seed=0 there, 3 now, --batch_size=32 there, 16 now",
        _copy_run,
    ),
    "run dir in use": Row(lambda e: _run_flags(e), "in use by another bn_keras process", _locked),
    "corrupt checkpoint state": Row(
        lambda e: _run_flags(e), "checkpoint", _corrupt_state, code=1, before_tf=False
    ),
    "corrupt checkpoint index": Row(
        lambda e: _run_flags(e), "checkpoint", _corrupt_index, code=1, before_tf=False
    ),
    "metrics cut mid-row before the checkpoint": Row(
        lambda e: _run_flags(e), "lacks the rows for iterations 10 to 20", _cut_metrics, 1, False
    ),
    # Stacks of seeds (--seed with --seeds, and settings a stack cannot train:
    # test_stacked).
    "seed range running downward": Row(lambda e: ["--seeds=5-2"], "runs downward; write 2-5"),
    "negative threads": Row(
        lambda e: ["--threads=-1"], "--threads=-1 must be 0 (TensorFlow's default) to 1024"
    ),
    "more seeds than a stack holds": Row(
        lambda e: ["--seeds=0-999"], "names 1000 seeds; a stack holds at most 32"
    ),
    "a seed named twice": Row(lambda e: ["--seeds=0-2,1"], "names seed 1 twice"),
    "a stack with a finished seed": Row(
        lambda e: _stack_flags(e, "0-1"),
        "lenetr_bn_seed1 holds a finished run of seed 1: leave it out of --seeds",
        lambda e: _copy_run(e, finished=True, name="lenetr_bn_seed1"),
    ),
    "a stack with a seed's unfinished single run": Row(
        lambda e: _stack_flags(e, "0-1"),
        "lenetr_bn_seed0 holds an unfinished single run of seed 0: finish it with --seed=0",
        lambda e: _copy_run(e, name="lenetr_bn_seed0"),
    ),
    # The grid's settings and the sizes, refused before anything is built.
    "width not a number": Row(lambda e: ["--width=nan"], "--width=nan is not a finite number"),
    "width infinite": Row(lambda e: ["--width=inf"], "--width=inf is not a finite number"),
    "learning rate not a number": Row(
        lambda e: ["--learning_rate=nan"], "--learning_rate=nan is not a finite number"
    ),
    "negative width": Row(lambda e: ["--width=-1"], "--width=-1.0 must be in (0, 100]"),
    "width past its bound": Row(lambda e: ["--width=101"], "--width=101.0 must be in (0, 100]"),
    # At the bounds' largest (about 1,100 GiB, with its batches) no test machine holds it.
    "a network beyond the machine's memory": Row(
        lambda e: [
            "--model=mlp",
            "--width=100",
            "--mlp_depth=100",
            "--batch_size=60000",
            "--test_batch_size=10000",
        ],  # fmt: skip
        "--width=100 --mlp_depth=100: mlp would hold 9,908,940,010 parameters",
    ),
    "mlp depth past its bound": Row(
        lambda e: ["--model=mlp", "--mlp_depth=1000000"], "--mlp_depth=1000000 must be in [1, 100]"
    ),
    "zero mlp depth": Row(lambda e: ["--model=mlp", "--mlp_depth=0"], "--mlp_depth=0 must be"),
    "mlp depth on a LeNet": Row(lambda e: ["--mlp_depth=6"], "--mlp_depth=6 is the MLP's"),
    "threads past their bound": Row(
        lambda e: ["--threads=100000"], "--threads=100000 must be 0 (TensorFlow's default) to 1024"
    ),
    "test batch above MNIST's test set": Row(
        lambda e: ["--test_batch_size=10001"], "--test_batch_size=10001 must be in (0, 10000]"
    ),
    "unknown activation": Row(lambda e: ["--activation=tanh"], "--activation"),
    "unknown optimizer": Row(lambda e: ["--optimizer=adam"], "--optimizer"),
    "landscape under sgd": Row(
        lambda e: ["--optimizer=sgd", "--landscape_every=100"], "--landscape_every"
    ),
    "seeds of thousands of digits": Row(
        lambda e: ["--seeds=" + "9" * 5000], "--seeds='9999999999999999999999999999999999999999"
    ),
    "a stack past its size": Row(lambda e: ["--seeds=0-32"], "names 33 seeds"),
    # Data and disk.
    "tampered dataset, no way to rebuild": Row(
        lambda e: [*_run_flags(e), f"--data_dir={e.tmp / 'tfds'}", "--run_name=fresh"],
        "fails its SHA-256 check",
        _tampered_dataset,
        code=1,
        before_tf=False,
        env=_no_wheel_and_no_index,
    ),
}
# A full disk: files cannot grow past 100 kB, so the first checkpoint fails with EFBIG.
DISK_FULL = Row(
    lambda e: [*_run_flags(e), "--run_name=fresh"],
    "File too large",
    lambda e: _copy_run(e, finished=True),  # a finished run beside it must stay as it was
    code=1,
    before_tf=False,
    file_size_limit=100_000,
)


@pytest.fixture(scope="module")
def template(tiny_tfds_dir, tmp_path_factory) -> Path:
    """RUN, finished, trained in this process (faster than the command line) on the same data."""
    from bn_keras.data.preparation import load
    from bn_keras.training.train import train_and_evaluate

    path = tmp_path_factory.mktemp("template") / RUN_NAME
    config = config_lib.Config(**RUN, data_dir=tiny_tfds_dir)
    train_and_evaluate(config, path, data=load(MNIST, tiny_tfds_dir))
    assert json.loads((path / run_dir.CONFIG_FILE).read_text())["config"] == config.to_dict()
    return path


def _hashes(*roots: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        for p in sorted(Path(root).rglob("*"))
        if p.is_file() and p.name != run_dir.LOCK_FILE
    }


def _command_line(cli) -> Callable[..., object]:
    """`python -m bn_keras.main` in a fresh interpreter."""
    return functools.partial(cli.run, "bn_keras.main")


def _prepare(row: Row, e: Env) -> tuple[list[str], dict | None, object, dict[str, str]]:
    """Sets `row` up in `e`: its arguments, its environment, what its setup holds open, and the
    hashes of every file before it runs."""
    held = row.setup(e) if row.setup else None
    args = row.flags(e)
    if not any(a.startswith("--results_dir") for a in args):
        args.append(f"--results_dir={e.results}")
    return args, row.env(e) if row.env else None, held, _hashes(e.tmp, e.data_dir)


def _check(row: Row, e: Env, proc, before: dict[str, str]) -> None:
    """Everything the module docstring promises, of a finished `proc`."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(PREFIX)]
    assert proc.returncode == row.code, proc.stderr[-3000:]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr[-3000:]
    assert row.names in errors[0], errors[0]
    assert "Traceback" not in proc.stderr
    if row.before_tf:
        assert lines == errors, proc.stderr
    after = _hashes(e.tmp, e.data_dir)
    assert {path: digest for path, digest in after.items() if path in before} == before


def _refused(row: Row, e: Env, run: Callable[..., object]) -> None:
    """Runs `row` in `e` with `run` (main_here, or _command_line) and checks it."""
    args, env, held, before = _prepare(row, e)
    try:
        proc = run(*args, env=env)
    finally:
        if isinstance(held, int):
            os.close(held)
    _check(row, e, proc, before)


@pytest.mark.parametrize("name", [name for name, row in ROWS.items() if row.before_tf])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(
    name, tiny_tfds_dir, template, tmp_path, main_here
):
    _refused(ROWS[name], Env(tmp_path, tiny_tfds_dir, template), main_here)


def test_bad_input_is_refused_on_the_command_line(tiny_tfds_dir, template, tmp_path, cli):
    # One row refused before TensorFlow (a setup, a run directory, two flags), as typed.
    row = ROWS["other settings on an existing run"]
    _refused(row, Env(tmp_path, tiny_tfds_dir, template), _command_line(cli))


# The rows that need TensorFlow run in one fresh interpreter, so that it starts once: main's
# entry point once per row, each with its own environment and its stderr in its own file, and
# under its file-size limit (as `ulimit -f`: bn_keras.main ignores SIGXFSZ, so writes past the
# limit fail with EFBIG), lifted again after it.
_EACH_ROW = """
import json, os, resource, sys
from absl import flags
from bn_keras import main

environment, codes = dict(os.environ), []
unlimited = resource.getrlimit(resource.RLIMIT_FSIZE)
for row in json.loads(sys.argv[1]):
    os.environ.clear()
    os.environ.update({**environment, **row["env"]})
    sys.argv = ["bn_keras.main", *row["args"]]
    flags.FLAGS.unparse_flags()
    sys.stderr.flush()
    console = os.dup(2)
    with open(row["stderr"], "w") as stderr:
        os.dup2(stderr.fileno(), 2)
    if row["file_size_limit"]:
        resource.setrlimit(resource.RLIMIT_FSIZE, (row["file_size_limit"], unlimited[1]))
    try:
        main.run()
    except SystemExit as exit:
        codes.append(exit.code or 0)
    resource.setrlimit(resource.RLIMIT_FSIZE, unlimited)
    sys.stderr.flush()
    os.dup2(console, 2)
    os.close(console)
print(json.dumps(codes))
"""
TF_ROWS = [name for name, row in ROWS.items() if not row.before_tf]
DISK_FULL_ROW = "disk full"


@pytest.fixture(scope="module")
def tf_rows(tiny_tfds_dir, template, tmp_path_factory, cli) -> dict[str, tuple]:
    """Each row of TF_ROWS, then DISK_FULL (as DISK_FULL_ROW), run: (its Env, its process's code
    and stderr, the hashes before)."""
    logs = tmp_path_factory.mktemp("stderr")
    prepared, plan = {}, []
    rows = {name: ROWS[name] for name in TF_ROWS} | {DISK_FULL_ROW: DISK_FULL}
    for name, row in rows.items():
        e = Env(tmp_path_factory.mktemp("row"), tiny_tfds_dir, template)
        args, env, held, before = _prepare(row, e)
        assert held is None  # nothing to close once the interpreter is done
        stderr = logs / f"{len(plan)}.txt"
        prepared[name] = (e, stderr, before)
        plan.append(
            {
                "args": args,
                "env": env or {},
                "stderr": str(stderr),
                "file_size_limit": row.file_size_limit,
            }
        )
    proc = subprocess.run(
        [sys.executable, "-c", _EACH_ROW, json.dumps(plan)],
        cwd=cli.repo, env=cli.env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        name: (e, subprocess.CompletedProcess(name, code, "", stderr.read_text()), before)
        for (name, (e, stderr, before)), code in zip(prepared.items(), codes, strict=True)
    }


@pytest.mark.parametrize("name", TF_ROWS)
def test_bad_input_once_tensorflow_runs_is_refused_in_one_line_and_changes_nothing(name, tf_rows):
    e, proc, before = tf_rows[name]
    _check(ROWS[name], e, proc, before)


def test_disk_full_ends_in_one_line_leaves_whole_files_and_the_run_resumes(
    tiny_tfds_dir, template, tf_rows
):
    """A run that fills the disk (EFBIG at its first checkpoint) is refused like a bad input;
    what it wrote is whole, and the same run finishes there once there is room."""
    from bn_keras.data.preparation import load
    from bn_keras.training.train import train_and_evaluate

    e, proc, before = tf_rows[DISK_FULL_ROW]
    _check(DISK_FULL, e, proc, before)
    fresh = e.results / "fresh"
    leftovers = [
        p for p in fresh.rglob("*") if ".tmp" in p.name or "_temp" in p.name or "partial" in p.name
    ]
    assert leftovers == []
    assert (fresh / run_dir.METRICS_FILE).read_text().endswith("\n")
    json.loads((fresh / run_dir.CONFIG_FILE).read_text())
    assert list((fresh / run_dir.CHECKPOINT_DIR).iterdir()) == []
    # The same command once there is room, as bn_keras.training.start runs it (in this process).
    config = config_lib.Config(**RUN, data_dir=tiny_tfds_dir)
    run_dir.check_run_dir(fresh, config, overwrite=False)
    train_and_evaluate(config, fresh, data=load(MNIST, tiny_tfds_dir))
    expected = (template / run_dir.METRICS_FILE).read_text().splitlines()
    got = (fresh / run_dir.METRICS_FILE).read_text().splitlines()
    assert [line.rsplit(",", 1)[0] for line in got] == [
        line.rsplit(",", 1)[0] for line in expected
    ]  # the same rows, elapsed time aside


def _fifo_flagfile(tmp: Path) -> None:
    """A named pipe as a flagfile: opening it to read waited for a writer, forever. Should the
    check open it anyway, a writer comes after 10 s, so the test fails instead of hanging."""
    fifo = tmp / "pipe.flags"
    os.mkfifo(fifo)

    def unblock() -> None:
        with open(fifo, "w") as writer:
            writer.write("--model=mlp\n")

    timer = threading.Timer(10, unblock)
    timer.daemon = True
    timer.start()
    try:
        checks.check_flagfiles(["bn_keras.main", f"--flagfile={fifo}"])
    finally:
        timer.cancel()


def _tiny_batches(tmp: Path) -> None:
    """A batch above the training set the run really reads (200 examples, as tests inject)."""
    del tmp
    from bn_keras.data import input_pipeline

    images, labels = np.zeros((200, 28, 28, 1), np.uint8), np.zeros(200, np.int64)
    input_pipeline.train_dataset(images, labels, batch_size=201, seed=0, dataset=MNIST)


# Bad inputs checked in process: what each must be refused with (a ConfigError, so one line and
# exit status 2 on the command line, as the rows above show for their class).
IN_PROCESS = {
    # A flagfile that is not a regular file: bn_keras.main read /dev/zero until it was killed.
    "flagfile is a named pipe": (_fifo_flagfile, "pipe.flags is a named pipe, not a file"),
    "flagfile is a device": (
        lambda tmp: checks.check_flagfiles(["main", "--flagfile=/dev/null"]),
        "--flagfile=/dev/null is a character device, not a file",
    ),
    "flagfile naming a device": (
        lambda tmp: checks.check_flagfiles(
            ["main", f"--flagfile={_write(tmp / 'outer.flags', '--flagfile=/dev/zero')}"]
        ),
        "--flagfile=/dev/zero is a character device",
    ),
    # A batch above the training set trained on smaller batches than config.json recorded.
    "batch above MNIST's training set": (
        lambda tmp: config_lib.Config(batch_size=60_001).validate(),
        "--batch_size=60001 is above MNIST's 60,000 training images: use at most 60000",
    ),
    "batch above the training set loaded": (
        _tiny_batches,
        "--batch_size=201 is above the 200 training examples",
    ),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", IN_PROCESS)
def test_bad_input_is_refused_in_process(name, tmp_path):
    check, message = IN_PROCESS[name]
    with pytest.raises(ConfigError) as refused:
        check(tmp_path)
    assert message in str(refused.value) and "\n" not in str(refused.value)


# The sweep (and its grid mode, --why) and plot: their settings and a damaged results tree, each
# through the command's entry point as `python -m` runs it (neither loads TensorFlow), all rows of
# a command in one fresh interpreter (below).
# Each row: the command, its arguments (given the test's directory), what its line names and
# its exit status.
GRID_RUN = "lenetr_w1_adadelta1_bn_seed0"  # an arm of the explanation grid, so plot reads a grid


def _grid_run(tmp: Path, damage: str = "") -> Path:
    """A finished grid run as plot reads it (10,000 iterations), damaged as `damage` says."""
    run = tmp / "why" / GRID_RUN
    run.mkdir(parents=True)
    (run / run_dir.CONFIG_FILE).write_text(json.dumps({"config": {"model": "lenetr"}}))
    rows = "".join(f"{step},{0.1 + step / 11_000:.4f}\n" for step in range(0, 10_001, 500))
    metrics = "step,test_accuracy\n" + rows
    if damage == "truncated":
        metrics = metrics[: len(metrics) // 2]
    elif damage == "garbage row":
        metrics += "garbage,row\n"
    (run / run_dir.METRICS_FILE).write_text(metrics)
    (run / run_dir.RESULT_FILE).write_text(
        "{not json" if damage == "result not JSON" else json.dumps({"steps": 10_000})
    )
    if damage == "config missing":
        (run / run_dir.CONFIG_FILE).unlink()
    return tmp / "why"


def _file(tmp: Path) -> Path:
    (tmp / "a_file").write_text("x\n")
    return tmp / "a_file"


COMMAND_ROWS = {
    "sweep: results dir is a file": (
        "bn_keras.sweep",
        lambda t: ["--experiments=mlp", f"--results_dir={_file(t)}"],
        "is a file, not a directory",
        2,
    ),
    "sweep --why: results dir is a file": (
        "bn_keras.sweep",
        lambda t: ["--why", "--seeds=1", f"--results_dir={_file(t)}"],
        "--results_dir=",
        2,
    ),
    "sweep --why: a million seeds": (
        "bn_keras.sweep",
        lambda t: ["--why", "--seeds=1000000", f"--results_dir={t}"],
        "--seeds=1000000 must be in [1, 100]",
        2,
    ),
    "sweep: an unknown dataset": (
        "bn_keras.sweep",
        lambda t: ["--dataset=nope", f"--results_dir={t}"],
        "--dataset='nope' is unknown: use one of mnist, fashion_mnist",
        2,
    ),
    "sweep: jobs past their bound": (
        "bn_keras.sweep",
        lambda t: ["--jobs=100000", f"--results_dir={t}"],
        "--jobs=100000 must be in [1, 64]",
        2,
    ),
    "sweep: seed cap past its bound": (
        "bn_keras.sweep",
        lambda t: ["--until_decided", "--max_seeds=1000", f"--results_dir={t}"],
        "--max_seeds=1000 must be in [1, 100]",
        2,
    ),
    "sweep: extra seeds past their bound": (
        "bn_keras.sweep",
        lambda t: ["--extra_seeds=101", f"--results_dir={t}"],
        "--extra_seeds=101 must be in [0, 100]",
        2,
    ),
    "sweep: a stack past its size": (
        "bn_keras.sweep",
        lambda t: ["--stack_size=33", f"--results_dir={t}"],
        "--stack_size=33 must be in [1, 32]",
        2,
    ),
    "sweep --why: an experiment the grid lacks": (
        "bn_keras.sweep",
        lambda t: ["--why", "--experiments=width", f"--results_dir={t}"],
        "no experiment ['width'] in the grid",
        1,
    ),
    "plot: results dir is a file": (
        "bn_keras.plot",
        lambda t: [str(_file(t))],
        "a_file is a file, not a directory",
        2,
    ),
    "plot: a grid run's metrics cut short": (
        "bn_keras.plot",
        lambda t: [str(_grid_run(t, "truncated"))],
        f"{GRID_RUN}/metrics.csv ends at iteration 4000 but result.json records 10000: move",
        1,
    ),
    "plot: a grid run's garbage row": (
        "bn_keras.plot",
        lambda t: [str(_grid_run(t, "garbage row"))],
        f"{GRID_RUN}/metrics.csv has a row that is not numbers",
        1,
    ),
}


# Each row of one command in turn, as `python -m` runs it (flags reset between rows), its stderr
# in its own file: one interpreter start per command instead of one per row. What a process prints
# once (a warning, absl's note on logging before flags) would show in the first row that meets it,
# so a later row cannot hide it; what the interpreter prints outside the rows (at exit) is checked
# to be nothing.
_EACH_COMMAND_ROW = """
import json, os, runpy, sys
from absl import flags

module, codes = sys.argv[1], []
for row in json.loads(sys.argv[2]):
    sys.argv = [module, *row["args"]]
    flags.FLAGS.unparse_flags()
    sys.stderr.flush()
    console = os.dup(2)
    with open(row["stderr"], "w") as stderr:
        os.dup2(stderr.fileno(), 2)
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        codes.append(0)
    except SystemExit as exit:
        if exit.code is None or isinstance(exit.code, int):
            codes.append(exit.code or 0)
        else:  # as the interpreter does: the message on stderr, status 1
            print(exit.code, file=sys.stderr)
            codes.append(1)
    sys.stderr.flush()
    os.dup2(console, 2)
    os.close(console)
print(json.dumps(codes))
"""


@pytest.fixture(scope="module")
def command_rows(tmp_path_factory, cli) -> dict[str, tuple]:
    """Each row of COMMAND_ROWS run: (its directory, its code and stderr, the hashes before)."""
    logs = tmp_path_factory.mktemp("stderr")
    ran = {}
    for module in sorted({module for module, *_ in COMMAND_ROWS.values()}):
        prepared, plan = {}, []
        for name, (row_module, args, *_) in COMMAND_ROWS.items():
            if row_module != module:
                continue
            tmp = tmp_path_factory.mktemp("row")
            arguments = args(tmp)
            stderr = logs / f"{len(ran) + len(plan)}.txt"
            prepared[name] = (tmp, stderr, _hashes(tmp))
            plan.append({"args": arguments, "stderr": str(stderr)})
        proc = subprocess.run(
            [sys.executable, "-c", _EACH_COMMAND_ROW, module, json.dumps(plan)],
            cwd=cli.repo, env=cli.env(), capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-3000:]
        codes = json.loads(proc.stdout.strip().splitlines()[-1])
        for (name, (tmp, stderr, before)), code in zip(prepared.items(), codes, strict=True):
            ran[name] = (
                tmp,
                subprocess.CompletedProcess(name, code, "", stderr.read_text()),
                before,
            )
    return ran


@pytest.mark.parametrize("name", COMMAND_ROWS)
def test_sweep_and_plot_refuse_bad_input_in_one_line(name, command_rows):
    _, _, names, code = COMMAND_ROWS[name]
    tmp, proc, before = command_rows[name]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, proc.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(PREFIX), proc.stderr[-3000:]
    assert names in lines[0], lines[0]
    assert _hashes(tmp) == before


# Damaged run directories as every reader of finished runs meets them (reader.load_runs: plot,
# its grid mode, the sweep's seed-adding rounds), in this process.
@pytest.mark.parametrize(
    ("damage", "names"),
    [
        ("truncated", "metrics.csv ends at iteration 4000 but result.json records 10000"),
        ("garbage row", "metrics.csv has a row that is not numbers"),
        ("result not JSON", "result.json cannot be read (JSONDecodeError)"),
        ("config missing", "config.json is missing beside its metrics.csv"),
    ],
)
def test_a_damaged_run_directory_is_refused_naming_its_file(damage, names, tmp_path):
    from bn_keras.common.errors import RecordError
    from bn_keras.runs.reader import load_runs

    results = _grid_run(tmp_path, damage)
    with pytest.raises(RecordError) as refused:
        load_runs(results)
    message = str(refused.value)
    assert message.startswith(f"{results / GRID_RUN}/") and names in message, message
    assert f"move {results / GRID_RUN} out of {results}" in message and "\n" not in message
    assert len(load_runs(_grid_run(tmp_path / "whole"))) == 1  # undamaged, it is read
