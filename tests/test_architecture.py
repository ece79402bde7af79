"""The layering of docs/architecture.md, held: the rooms, their imports and their TensorFlow are
read from that page (its picture and its table), and every import in the package is checked
against them."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "bn_keras"
TF_MODULES = ("tensorflow", "keras", "tensorflow_datasets")


def _picture(text: str) -> list[list[str]]:
    """The picture's layers, top first: each the names it holds (commands, or rooms). A line is
    its layer's label, the names two spaces apart, then four or more spaces and a comment."""
    block = text.split("```\n", 2)[1]
    layers = [line.split(None, 1)[1] for line in block.splitlines()]
    return [re.split(r"\s{4,}", names)[0].split() for names in layers]


def _table(text: str) -> dict[str, dict]:
    """The table's rows by room: `imports` (the rooms it may import, None for any) and `tf`
    (the TensorFlow cell)."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        imports = None if cells[2] == "any room" else set(re.findall(r"`(\w+)`", cells[2]))
        rows[cells[0].strip("`")] = {"imports": imports, "tf": cells[3]}
    return rows


DOC = (REPO / "docs" / "architecture.md").read_text()
LAYERS = _picture(DOC)
ROOMS = _table(DOC)
COMMANDS = set(LAYERS[0])
_TORCH = importlib.util.find_spec("torch") is not None


def _name(path: Path) -> str:
    return ".".join(("bn_keras", *path.relative_to(PACKAGE).with_suffix("").parts))


def _room_and_command(path: Path, package: Path = PACKAGE) -> tuple[str | None, bool]:
    relative = path.relative_to(package)
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


def _broken_imports(package: Path) -> list[str]:
    """Every import in the modules of `package`'s rooms that the table does not allow."""
    broken = []
    for path in sorted(package.rglob("*.py")):
        room, command = _room_and_command(path, package)
        if command or room is None:
            continue
        allowed = ROOMS[room]["imports"]
        for line, target in _bn_keras_imports(path):
            if target != room and target not in allowed:
                broken.append(f"{path.relative_to(package)}:{line} ({room}) imports {target}")
    return broken


def test_the_picture_and_the_table_name_the_same_rooms():
    pictured = {name for layer in LAYERS[1:] for name in layer}
    assert pictured == set(ROOMS) - {"commands"}
    assert {"main", "sweep", "plot", "launch", "bench", "probes/plot"} <= COMMANDS


def test_every_module_lives_in_a_room_of_the_table_or_is_a_command():
    for path in PACKAGE.rglob("*.py"):
        room, command = _room_and_command(path)
        assert command or path.name == "__init__.py" or room in ROOMS, path


def test_the_table_imports_point_down_the_picture():
    layer_of = {name: depth for depth, layer in enumerate(LAYERS) for name in layer}
    for room, row in ROOMS.items():
        if row["imports"] is None:
            continue
        assert row["imports"] <= set(ROOMS), room
        up = [t for t in row["imports"] if layer_of[t] <= layer_of[room]]
        assert not up, f"{room} imports {up}, not below it in the picture"


def test_imports_are_those_the_table_allows():
    broken = _broken_imports(PACKAGE)
    assert not broken, "imports against docs/architecture.md:\n" + "\n".join(broken)


def test_the_sweep_loads_no_tensorflow():
    # It prepared MNIST in its own process through bn_keras.data; now a child does that. Lazy
    # imports count, so no code path of the sweep (or the rooms it uses) loads TensorFlow.
    rooms = {room for _, room in _bn_keras_imports(PACKAGE / "sweep.py")}
    assert rooms <= {"common", "config", "experiments", "reporting", "runs"}, rooms
    assert all(ROOMS[room]["tf"].startswith("no") for room in rooms), rooms


def test_the_check_catches_a_wrong_import(tmp_path):
    # A reporting module importing the training room, lazily, in a copy of the layout.
    fake = tmp_path / "reporting" / "fake.py"
    fake.parent.mkdir()
    fake.write_text("def f():\n    from bn_keras.training import train\n")
    (tmp_path / "reporting" / "fine.py").write_text("from bn_keras.runs import run_dir\n")
    assert _broken_imports(tmp_path) == ["reporting/fake.py:2 (reporting) imports training"]


def _tf_free_modules() -> list[str]:
    """The library modules the table calls free of TensorFlow: those of its rooms whose cell
    says "no" (those needing torch only where it is installed), and the modules its other cells
    name as exceptions."""
    modules = ["bn_keras.probes"]
    for room, row in ROOMS.items():
        if room == "commands" or ("torch" in row["tf"] and not _TORCH):
            continue
        if row["tf"].startswith("no"):
            paths = sorted((PACKAGE / room).glob("*.py"))
        else:
            paths = [PACKAGE / room / name for name in re.findall(r"`(\w+\.py)`", row["tf"])]
        for path in paths:
            assert path.is_file(), f"docs/architecture.md names {path}, which does not exist"
            if path.name != "__init__.py" and not _room_and_command(path)[1]:
                modules.append(_name(path))
    return modules


# Commands whose flags can be defined in one process (main's and bench's --eval_every differ, as
# do main's and the sweep's --seeds, the sweep's and bench's --quick): one interpreter a group.
COMMAND_GROUPS = [["main", "launch", "plot", "probes/plot"], ["sweep"], ["bench"]]

# Imports the modules one after the other in one fresh interpreter, noting after each which of
# TensorFlow's modules are loaded: the first module that loads one is the one named. Importing
# them into one process hides none: a module that loads TensorFlow at import loads it whatever was
# imported before, and each answer shows TensorFlow unloaded so far. Then, given rows, main's entry
# point runs once per row (flags reset between rows): each exit code, and whether TensorFlow was
# loaded by the end.
_IMPORT_EACH = """
import importlib, json, sys

plan, loaded = json.loads(sys.argv[1]), {}


def tensorflow_loaded():
    return [m for m in plan["tensorflow"] if m in sys.modules]


for module in plan["modules"]:
    importlib.import_module(module)
    loaded[module] = tensorflow_loaded()
    if loaded[module]:
        break
answers = {"imports": loaded}
if plan["main"] and not any(loaded.values()):
    from absl import flags
    from bn_keras import main

    codes = []
    for args in plan["main"]:
        sys.argv = ["bn_keras.main", *args]
        flags.FLAGS.unparse_flags()
        try:
            main.run()
        except SystemExit as exit:
            codes.append(exit.code or 0)
    answers["main"] = {"codes": codes, "tensorflow": tensorflow_loaded()}
print(json.dumps(answers))
"""
# main's rows: input it refuses (exit status 2) or prints (0) before TensorFlow runs.
REFUSED_OR_PRINTED = [
    (["--model=resnet"], 2),
    (["--train_steps=0"], 2),
    (["--jit_compile=yes"], 2),
    (["--flagfile=flags/smoke.flags", "--eval_every=30"], 2),
    (["--flagfile=flags/smoke.flags", "--print_config"], 0),
]


def _command_module(command: str) -> str:
    return f"bn_keras.{command.replace('/', '.')}"


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> dict:
    """`imports`: each module imported, the TensorFlow modules loaded by then; `main`: its rows'
    exit codes and the TensorFlow modules loaded by the end. Three interpreters: the library
    modules, the first group of commands and main's rows in one; each other group in its own."""
    assert sorted(c for group in COMMAND_GROUPS for c in group) == sorted(COMMANDS)
    # A dry run makes every check a run makes before training, the run directory's included.
    results = tmp_path_factory.mktemp("results")
    dry_run = ["--flagfile=flags/smoke.flags", "--dry_run", f"--results_dir={results}"]
    first, *others = [[_command_module(c) for c in group] for group in COMMAND_GROUPS]
    plans = [
        {"modules": _tf_free_modules() + first, "main": [a for a, _ in REFUSED_OR_PRINTED]},
        *({"modules": group, "main": []} for group in others),
    ]
    plans[0]["main"].append(dry_run)
    found = {"imports": {}}
    for plan in plans:
        proc = subprocess.run(
            [sys.executable, "-c", _IMPORT_EACH, json.dumps({**plan, "tensorflow": TF_MODULES})],
            cwd=PACKAGE.parent,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        answer = json.loads(proc.stdout.splitlines()[-1])
        found["imports"] |= answer["imports"]
        found |= {key: value for key, value in answer.items() if key == "main"}
    return found


def test_library_modules_import_without_tensorflow(answers):
    modules = _tf_free_modules()
    assert {"bn_keras.runs.controller", "bn_keras.engines.dispatch"} <= set(modules)
    loaded = {m: tf for m, tf in answers["imports"].items() if m in modules}
    assert not {module: tf for module, tf in loaded.items() if tf}
    assert list(loaded) == modules


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_imports_without_tensorflow(command, answers):
    module = _command_module(command)
    assert answers["imports"].get(module) == [], answers["imports"]


def test_main_refuses_bad_input_before_tensorflow_loads(answers):
    expected = {"codes": [code for _, code in REFUSED_OR_PRINTED] + [0], "tensorflow": []}
    assert answers.get("main") == expected, answers
