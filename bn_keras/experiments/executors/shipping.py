"""Run directories shipped between machines without a shared filesystem: a snapshot of some
entries of a results directory as tar bytes, restored over another results directory.

A snapshot taken while a run trains is consistent for resuming: each checkpoint's state.json is
read before the files, and left out when the checkpoint it names was rotated away before it
could be read, so that the receiving side keeps its older state.json and the checkpoint that
one names (an overlay never deletes). The final snapshot of a job is restored as a mirror: its
entries replace the receiver's, so the results directory holds exactly what the run left.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from bn_keras.common.atomic import write_bytes_atomic
from bn_keras.runs.checkpoint import STATE_FILE
from bn_keras.runs.run_dir import CHECKPOINT_DIR

STAGING_PREFIX = ".incoming-"


def _files(base: Path, names: Sequence[str]) -> list[str]:
    """The files of the entries `names` of `base`, as paths relative to it (sorted)."""
    found = []
    for name in names:
        entry = base / name
        if entry.is_file():
            found.append(name)
        # os.walk skips what vanishes while it walks (a checkpoint's temporary directory)
        for folder, _, files in os.walk(entry):
            found += [str((Path(folder) / f).relative_to(base)) for f in sorted(files)]
    return sorted(found)


def signature(base: Path, names: Sequence[str]) -> tuple:
    """What changes when any file of the entries changes: each file's path, size and mtime."""
    out = []
    for rel in _files(base, names):
        try:
            stat = (base / rel).stat()
        except OSError:
            continue
        out.append((rel, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def snapshot(base: Path, names: Sequence[str]) -> bytes:
    """A tar of the entries `names` (directories or files) of `base`; see the module docstring.

    Args:
        base: a results directory.
        names: entries relative to it (run directories, logs/<run>.log); missing ones are skipped.
    """
    base = Path(base)
    states = {}
    for name in names:
        state = base / name / CHECKPOINT_DIR / STATE_FILE
        try:
            states[str(state.relative_to(base))] = state.read_bytes()
        except OSError:
            continue
    contents = {}
    for rel in _files(base, names):
        try:
            contents[rel] = states.get(rel) or (base / rel).read_bytes()
        except OSError:  # removed while we listed (a rotated checkpoint)
            continue
    for rel, state in states.items():
        try:
            checkpoint = str(Path(rel).parent / Path(json.loads(state)["path"]).name)
        except (ValueError, KeyError, TypeError):
            checkpoint = None
        named = (checkpoint + ".", checkpoint + "/") if checkpoint else ()
        if not any(r == checkpoint or r.startswith(named) for r in contents if named):
            contents.pop(rel, None)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for rel, data in contents.items():
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for member in members:
        parts = Path(member.name).parts
        if not member.isfile() or Path(member.name).is_absolute() or ".." in parts:
            raise ValueError(f"unexpected entry {member.name!r} in a shipped run")
    return members


def restore(data: bytes, base: Path, names: Sequence[str], mirror: bool) -> None:
    """Writes a snapshot's files into `base`.

    Args:
        data: what `snapshot` returned.
        base: the results directory that receives them.
        names: the entries the snapshot was taken of.
        mirror: replace each of those entries by the snapshot's (removed where the snapshot has
            none); else overlay: write each file atomically over the receiver's, delete nothing.
    """
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = _members(tar)
        if not mirror:
            for member in members:
                target = base / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(target, tar.extractfile(member).read())
            return
        staging = base / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        trash = staging / ".replaced"
        trash.mkdir(parents=True)
        try:
            tar.extractall(staging, members=members, filter="data")
            for i, name in enumerate(names):
                target, new = base / name, staging / name
                if target.exists():
                    target.rename(trash / str(i))
                if new.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    new.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
