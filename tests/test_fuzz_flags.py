"""Property-based bad input: generated flag values and flagfiles through the real validation.

In process, hundreds of examples through the checks that need no TensorFlow (the same functions
bn_keras.main calls), and fewer through bn_keras.main's entry point (`main_here`: flag parsing,
flagfiles, checks, the error line), with --dry_run so that no training starts. Either the
input is accepted, or it is refused with one `bn_keras: error:` line and exit status 2 (1 for
what fails later); never a traceback, and nothing is written. Examples are derandomized: the
suite sees the same ones every run. Cases found here are rows of test_bad_inputs.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bn_keras.common.errors import ConfigError
from bn_keras.config import checks, names
from bn_keras.config import settings as config_lib
from bn_keras.config.commands import SweepOptions
from bn_keras.config.fields import check_fields
from bn_keras.config.seeds import parse_seeds

PREFIX = "bn_keras: error: "
# Text a command line can carry: no NUL, no lone surrogates outside those Python makes of bytes
# that are not UTF-8 (U+DC80..U+DCFF, which subprocess turns back into those bytes).
ARG_TEXT = st.text(
    st.one_of(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF),
    ),
    max_size=40,
)
NUMBER_TEXT = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "0", "-0", "1e3", "0x10", "abc", " 5", "nan", "inf", "1_000"]),
)
ENUMS = {
    "model": [*names.MODELS, "resnet", ""],
    "strategy": [*config_lib.STRATEGIES, "tpu_pod"],
    "sync_bn": [*config_lib.SYNC_BN, "maybe"],
    "lr_schedule": [*config_lib.LR_SCHEDULES, "cosine"],
    "init": [*config_lib.INITS, "xavier"],
    "jit_compile": ["auto", "true", "false", "yes"],
    "dataset_source": ["auto", "tfds", "offline", "web"],
    "activation": [*config_lib.ACTIVATIONS, "tanh"],
    "optimizer": [*config_lib.OPTIMIZERS, "adam"],
}
NUMBERS = ["seed", "train_steps", "batch_size", "eval_every", "learning_rate", "rho", "lr_decay"]
NUMBERS += ["steps_per_execution", "checkpoint_every", "probe_every", "landscape_span"]
# The explanation grid's settings and the sizes.
NUMBERS += ["width", "mlp_depth", "threads", "test_batch_size"]
BOOLS = ["bn", "scale_lr", "export", "overwrite", "record_divergence"]
BOOLS += ["eval_train", "save_predictions"]
TEXTS = ["run_name", "devices", "probe_layers", "seeds"]
SEEDS_TEXT = st.one_of(
    ARG_TEXT,
    st.lists(
        st.tuples(st.integers(0, 2**40), st.one_of(st.none(), st.integers(0, 2**40))), max_size=4
    ).map(lambda parts: ",".join(f"{a}" if b is None else f"{a}-{b}" for a, b in parts)),
    # Past 4,300 digits Python refuses to read a number: a ValueError, not a refusal, before.
    st.sampled_from([1, 10, 11, 4301, 6000]).map(lambda n: "9" * n),
)
PATHS = ["results_dir", "data_dir", "design"]


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


@st.composite
def flag(draw, paths_under: str) -> str:
    kind = draw(st.sampled_from(["enum", "number", "bool", "text", "path"]))
    if kind == "enum":
        name = draw(st.sampled_from(sorted(ENUMS)))
        value = draw(st.one_of(st.sampled_from(ENUMS[name]), ARG_TEXT))
    elif kind == "number":
        name, value = draw(st.sampled_from(NUMBERS)), draw(NUMBER_TEXT)
    elif kind == "bool":
        name = draw(st.sampled_from(BOOLS))
        return draw(st.sampled_from([f"--{name}", f"--no{name}", f"--{name}=maybe"]))
    elif kind == "text":
        name = draw(st.sampled_from(TEXTS))
        value = draw(SEEDS_TEXT if name == "seeds" else ARG_TEXT)
    else:
        name = draw(st.sampled_from(PATHS))
        fixed = st.sampled_from(["a", "..", ".", "file", "file/below", "x" * 300])
        parts = st.one_of(fixed, ARG_TEXT)
        value = "/".join([paths_under, *draw(st.lists(parts, max_size=3))])
    return f"--{name}={value}"


@st.composite
def command_line(draw) -> tuple[list[str], dict[str, str]]:
    """(flags, flagfiles by name): flags, some in flagfiles that may name each other."""
    flags = draw(st.lists(flag("work"), max_size=5))
    files = {}
    count = draw(st.integers(0, 3))
    for i in range(count):
        lines = draw(st.lists(flag("work"), max_size=3))
        nested = draw(st.lists(st.integers(0, count), max_size=2))  # `count`: a missing file
        lines += [f"--flagfile=work/{'./' * (j % 2)}f{j}.flags" for j in nested]
        files[f"f{i}.flags"] = "\n".join(draw(st.permutations(lines))) + "\n"
        flags.append(f"--flagfile=work/f{i}.flags")
    return draw(st.permutations(flags)), files


def _expect_config_error_or_nothing(fn, *args) -> None:
    try:
        fn(*args)
    except ConfigError as err:
        assert str(err).startswith("--") and "\n" not in str(err)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    name=st.text(max_size=260),
    path=st.lists(st.sampled_from(["a", "..", "file", "file/x", "d" * 300, "\x00"]), max_size=4),
    # Not a named pipe or /dev/zero: a check that read them would hang (test_bad_inputs has them).
    flagfile=st.sampled_from(["file", "..", "missing", "/dev/null", "\x00"]),
    config_values=st.fixed_dictionaries(
        {},
        optional={
            "model": st.sampled_from(ENUMS["model"]),
            "train_steps": st.integers(-5, 10**6),
            "batch_size": st.integers(-5, 10**6),
            "eval_every": st.integers(-5, 10**6),
            "steps_per_execution": st.integers(-2, 60),
            "probe_every": st.integers(-2, 100),
            "probe_layers": st.text(max_size=12),
            "learning_rate": st.floats(allow_nan=True),
            "seed": st.integers(-(2**40), 2**40),
            "strategy": st.sampled_from(ENUMS["strategy"]),
            "devices": st.text(max_size=12),
            "width": st.floats(allow_nan=True, allow_infinity=True),
            "mlp_depth": st.integers(-2, 10**7),
            "test_batch_size": st.integers(-2, 10**6),
            "activation": st.sampled_from(ENUMS["activation"]),
            "optimizer": st.sampled_from(ENUMS["optimizer"]),
            "landscape_every": st.integers(0, 2),
        },
    ),
    seeds=SEEDS_TEXT,
    sweep_values=st.fixed_dictionaries(
        {},
        optional={
            name: st.integers(-2, 10**7)
            for name in ("seeds", "max_seeds", "extra_seeds", "jobs", "stack_size")
        }
        | {"why": st.booleans(), "until_decided": st.booleans()},
    ),
)
def test_checks_in_process_refuse_only_with_config_errors(
    name, path, flagfile, config_values, seeds, sweep_values, tmp_path_factory
):
    root = tmp_path_factory.mktemp("checks")
    (root / "file").write_text("--model=mlp\n")
    before = _tree(root)
    _expect_config_error_or_nothing(checks.check_file_name, name, "--run_name")
    _expect_config_error_or_nothing(checks.check_directory, "/".join([str(root), *path]), "--d")
    _expect_config_error_or_nothing(checks.check_readable_file, "/".join([str(root), *path]), "--d")
    flagfile = flagfile if flagfile.startswith("/") else f"{root}/{flagfile}"
    _expect_config_error_or_nothing(checks.check_flagfiles, ["main", f"--flagfile={flagfile}"])
    _expect_config_error_or_nothing(config_lib.Config(**config_values).validate)
    # Out-of-bounds sizes are refused before anything reaches the builders.
    width, depth = config_values.get("width", 1.0), config_values.get("mlp_depth", 3)
    if not (math.isfinite(width) and 0 < width <= 100) or not 1 <= depth <= 100:
        with pytest.raises(ConfigError):  # naming it, or another setting checked first
            config_lib.Config(**config_values).validate()
    _expect_config_error_or_nothing(parse_seeds, seeds)
    _expect_config_error_or_nothing(check_fields, SweepOptions(**sweep_values))
    assert _tree(root) == before


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # main_here starts afresh at every call
    ],
)
@given(generated=command_line())
def test_command_line_accepts_or_refuses_in_one_line_and_writes_nothing(
    generated, tmp_path_factory, main_here
):
    flags, files = generated
    work = tmp_path_factory.mktemp("fuzz") / "work"  # the flags' relative paths start with work/
    work.mkdir()
    (work / "file").write_text("x")
    for name, text in files.items():
        (work / name).write_text(text, encoding="utf-8", errors="surrogateescape")
    before = _tree(work)
    proc = main_here("--results_dir=work/results", *flags, "--dry_run", cwd=work.parent)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    event(f"exit {proc.returncode}: {lines[-1][len(PREFIX) :][:30] if lines else ''}")
    if proc.returncode == 0:
        json.loads(proc.stdout)
    else:
        assert proc.returncode == 2, proc.stderr[-3000:]
        assert lines and lines[-1].startswith(PREFIX), proc.stderr[-3000:]
        assert sum(line.startswith(PREFIX) for line in lines) == 1, proc.stderr[-3000:]
    assert _tree(work) == before  # a dry run writes nothing, in the results directory or out
