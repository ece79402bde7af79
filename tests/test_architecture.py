"""The layering of docs/architecture.md, held: imports point one way, and the TensorFlow-free
rooms stay free of it."""

from __future__ import annotations

import ast
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
TF_FREE_EXTRA = (
    "bn_keras.probes.files",
    "bn_keras.training.start",
    "bn_keras.training.stack_start",
)
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


def test_imports_point_one_way():
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        room, command = _room_and_command(path)
        if command or room is None:
            continue
        for line, target in _bn_keras_imports(path):
            if target != room and target not in ALLOWED[room]:
                broken.append(f"{path.relative_to(PACKAGE)}:{line} ({room}) imports {target}")
    assert not broken, "imports against docs/architecture.md:\n" + "\n".join(broken)


def test_the_check_catches_a_wrong_import(tmp_path):
    # A reporting module importing the training room must be found by the same parser.
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from bn_keras.training import train\n")
    assert _bn_keras_imports(fake) == [(2, "training")]
    assert "training" not in ALLOWED["reporting"]


def _tf_free_modules() -> list[str]:
    modules = [
        _name(path)
        for room in TF_FREE_ROOMS
        for path in sorted((PACKAGE / room).glob("*.py"))
        if path.name != "__init__.py"
    ]
    commands = [f"bn_keras.{c.replace('/', '.')}" for c in sorted(COMMANDS)]
    return modules + list(TF_FREE_EXTRA) + commands + ["bn_keras.probes"]


@pytest.mark.parametrize("module", _tf_free_modules())
def test_module_imports_without_tensorflow(module):
    code = (
        f"import sys, {module}\n"
        f"loaded = [m for m in {TF_MODULES!r} if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing {module} loads {proc.stdout.strip()}"


# Run in-process by a fresh interpreter: the command, then whether TensorFlow was loaded.
_RUN_MAIN = """
import runpy, sys
sys.argv = ["bn_keras.main", *sys.argv[1:]]
try:
    runpy.run_module("bn_keras.main", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    code = exit.code
print(code or 0, [m for m in {modules!r} if m in sys.modules])
"""


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--model=resnet"], 2),
        (["--train_steps=0"], 2),
        (["--jit_compile=yes"], 2),
        (["--flagfile=flags/smoke.flags", "--eval_every=30"], 2),
        (["--flagfile=flags/smoke.flags", "--print_config"], 0),
    ],
    ids=lambda a: str(a),
)
def test_main_refuses_bad_input_before_tensorflow_loads(args, code):
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_MAIN.format(modules=TF_MODULES), *args],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.strip().splitlines()[-1] == f"{code} []", proc.stdout + proc.stderr
