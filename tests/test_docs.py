"""The README and docs/ hold what they point at: links and images name existing files (and
headings), `python -m bn_keras.X` names a module that exists, every flag given to
`python -m bn_keras.main` or `bn-keras` is one main defines, and every flag given to the other
commands (sweep, bench, launch, plot, and run_all.sh, which passes its own to the sweep) is one of
their settings (bn_keras/config/commands.py)."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bn_keras.config import flags as config_flags

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
