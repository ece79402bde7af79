"""Markdown tables as every report writes them: `| a | b |` rows under a header and its rule."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def row(cells: Sequence[object]) -> str:
    """One table row: `| a | b |` (an empty cell is `|  |`)."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def table(
    header: Sequence[str], rows: Iterable[Sequence[object]] = (), compact: bool = False
) -> list[str]:
    """The header, its rule and the rows, one line each.

    Args:
        header: the column names.
        rows: the cells of each row, as many as the header's.
        compact: the rule as `|---|---|` rather than `| --- | --- |`.
    """
    rule = "|---" * len(header) + "|" if compact else "|" + " --- |" * len(header)
    return [row(header), rule, *(row(cells) for cells in rows)]
