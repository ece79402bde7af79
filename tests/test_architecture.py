"""The layering of docs/architecture.md, held: imports point one way, and the TensorFlow-free
rooms stay free of it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bn_keras"
# What each room may import from bn_keras besides itself. The commands (bn_keras/*.py and
# probes/plot.py) sit on top and may import any room.
_MIDDLE = {"data", "models", "distribution", "probes", "twin", "runs", "config", "common"}
ALLOWED = {
    "benchmark": {"training", *_MIDDLE},
    "training": _MIDDLE,
    "data": {"config", "common"},
    "models": {"config", "common"},
    "distribution": {"config", "common"},
    "probes": {"data", "runs", "config", "common"},
    # The twin reads MNIST through bn_keras.data in a child process only (twin/mnist_arrays.py).
    "twin": {"data", "runs", "config", "common"},
    "runs": {"config", "common"},
    "reporting": {"runs", "config", "common"},
    "experiments": {"reporting", "runs", "config", "common"},
    "config": {"common"},
    "common": set(),
}
COMMANDS = {"main", "sweep", "plot", "launch", "bench", "probes/plot"}
# Importing any of these must not load TensorFlow, Keras or TFDS.
TF_FREE_ROOMS = ("config", "runs", "common", "reporting", "experiments")
TF_FREE_EXTRA = ("bn_keras.probes.files", "bn_keras.training.start")
TF_MODULES = ("tensorflow", "keras", "tensorflow_datasets")


def _name(path: Path) -> str:
    return ".".join(("bn_keras", *path.relative_to(PACKAGE).with_suffix("").parts))


def _room_and_command(path: Path) -> tuple[str | None, bool]:
    relative = path.relative_to(PACKAGE)
    command = str(relative.with_suffix("")) in COMMANDS
    return (relative.parts[0] if len(relative.parts) > 1 else None), command


def _bn_keras_imports(path: Path) -> list[tuple[int, str]]:
    """(line, room) of every bn_keras import in `path`, at any depth (lazy imports count)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "bn_keras":
                names = [f"bn_keras.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(node.lineno, n.split(".")[1]) for n in names if n.startswith("bn_keras.")]
    return found


def test_every_module_lives_in_a_known_room_or_is_a_command():
    for path in PACKAGE.rglob("*.py"):
        room, command = _room_and_command(path)
        assert command or path.name == "__init__.py" or room in ALLOWED, path


def _broken_imports(package: Path) -> list[str]:
    """Every import in `package` (a bn_keras tree) that ALLOWED does not allow."""
    broken = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        room = relative.parts[0] if len(relative.parts) > 1 else None
        if str(relative.with_suffix("")) in COMMANDS or room is None:
            continue
        for line, target in _bn_keras_imports(path):
            if target != room and target not in ALLOWED[room]:
                broken.append(f"{relative}:{line} ({room}) imports {target}")
    return broken


def test_imports_point_one_way():
    broken = _broken_imports(PACKAGE)
    assert not broken, "imports against docs/architecture.md:\n" + "\n".join(broken)


def test_the_check_catches_a_wrong_import(tmp_path):
    # A lazy import of the training room in a reporting module, beside allowed ones and a command.
    (tmp_path / "reporting").mkdir()
    (tmp_path / "reporting" / "fake.py").write_text(
        "from bn_keras.runs import run_dir\nfrom bn_keras import config\n\n"
        "def f():\n    from bn_keras.training import train\n"
    )
    (tmp_path / "main.py").write_text("from bn_keras.training import start\n")
    assert _broken_imports(tmp_path) == ["reporting/fake.py:5 (reporting) imports training"]


def _tf_free_groups() -> dict[str, list[str]]:
    """The modules that must import without TensorFlow: the rooms' in one group, each command
    alone (commands define their flags at import, and some share names)."""
    rooms = [
        _name(path)
        for room in TF_FREE_ROOMS
        for path in sorted((PACKAGE / room).glob("*.py"))
        if path.name != "__init__.py"
    ]
    commands = {c: [f"bn_keras.{c.replace('/', '.')}"] for c in sorted(COMMANDS)}
    return {"rooms": [*rooms, *TF_FREE_EXTRA, "bn_keras.probes"], **commands}


# Imports each module in turn in one fresh interpreter and stops at the first that loads
# TensorFlow, Keras or TFDS: what importing all of them loads, each of them alone loads at most.
_IMPORT_EACH = """
import importlib, sys
for module in sys.argv[1:]:
    importlib.import_module(module)
    loaded = [m for m in {modules!r} if m in sys.modules]
    if loaded:
        sys.exit(f"importing {{module}} loads {{loaded}}")
print("imported", len(sys.argv) - 1)
"""


@pytest.mark.parametrize("group", _tf_free_groups())
def test_modules_import_without_tensorflow(group):
    modules = _tf_free_groups()[group]
    if group == "rooms":
        assert len(modules) > 20 and "bn_keras.reporting.statistics" in modules
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH.format(modules=TF_MODULES), *modules],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["imported", str(len(modules))]


# The command's entry point run several times in one fresh interpreter (flags reset between
# runs); each exit code, then whether TensorFlow was loaded by the end.
_RUN_MAIN = """
import json, sys
from absl import flags
from bn_keras import main
codes = []
for args in json.loads(sys.argv[1]):
    sys.argv = ["bn_keras.main", *args]
    flags.FLAGS.unparse_flags()
    try:
        main.run()
    except SystemExit as exit:
        codes.append(exit.code or 0)
print(codes, [m for m in {modules!r} if m in sys.modules])
"""
REFUSED_OR_PRINTED = [
    (["--model=resnet"], 2),
    (["--train_steps=0"], 2),
    (["--jit_compile=yes"], 2),
    (["--flagfile=flags/smoke.flags", "--eval_every=30"], 2),
    (["--flagfile=flags/smoke.flags", "--print_config"], 0),
]


def test_main_refuses_bad_input_before_tensorflow_loads(tmp_path):
    # A dry run makes every check a run makes before training, the run directory's included.
    dry_run = ["--flagfile=flags/smoke.flags", "--dry_run", f"--results_dir={tmp_path}"]
    rows = [*REFUSED_OR_PRINTED, (dry_run, 0)]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _RUN_MAIN.format(modules=TF_MODULES),
            json.dumps([a for a, _ in rows]),
        ],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    expected = f"{[code for _, code in rows]} []"
    assert proc.stdout.strip().splitlines()[-1] == expected, proc.stdout + proc.stderr
