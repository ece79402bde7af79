"""How every report saves its figures: PNG and SVG, byte-stable, written only when they change."""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from bn_keras.common.atomic import write_bytes_atomic
from bn_keras.reporting import provenance

FORMATS = ("png", "svg")


# matplotlib names a clip path by hashing its path and transform as text, and some transforms'
# text holds their memory address: the same figure gets other ids in another process.
_CLIP_ID = re.compile(rb'(?<=id=")p[0-9a-f]{10}(?=")|(?<=url\(#)p[0-9a-f]{10}(?=\))')


def stable_clip_ids(svg: bytes) -> bytes:
    """Renames an SVG's clip-path ids to clip0, clip1, ... in the order they first appear."""
    names: dict[bytes, bytes] = {}
    return _CLIP_ID.sub(lambda m: names.setdefault(m[0], b"clip%d" % len(names)), svg)


def save_figure(fig: Figure, results_dir: Path, stem: str) -> list[Path]:
    """Writes `stem`.png and `stem`.svg into `results_dir`, each atomically and only when its
    bytes change; returns the paths."""
    paths = []
    for fmt in FORMATS:
        buffer = io.BytesIO()
        # No date, a fixed id salt and clip paths renamed in the SVG: rebuilding from the same
        # files gives the same bytes, so git shows a figure as changed only when its data did.
        metadata = {"Date": None} if fmt == "svg" else None
        with matplotlib.rc_context({"svg.hashsalt": "bn_keras"}):
            fig.savefig(buffer, format=fmt, dpi=150, metadata=metadata)
        data = buffer.getvalue()
        if fmt == "svg":
            data = stable_clip_ids(data)
        path = Path(results_dir) / f"{stem}.{fmt}"
        provenance.write_if_changed(path, data, write_bytes_atomic)
        paths.append(path)
    return paths
