"""Plain-text tables for the Genesys commands: aligned columns, the last one free, optional note lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Row:
    cells: Sequence[str]
    # Lines printed under the row, starting at the last column (what the pipeline does, the fix, ...).
    notes: list[str] = field(default_factory=list)


def format_table(headers: Sequence[str], rows: Sequence[Row | Sequence[str]]) -> str:
    """Every column but the last padded to its widest cell; notes indented to the last column."""
    rows = [row if isinstance(row, Row) else Row(row) for row in rows]
    padded = len(headers) - 1
    widths = [max(len(str(cells[i])) for cells in [headers, *(row.cells for row in rows)]) for i in range(padded)]
    indent = sum(widths) + 2 * padded

    def line(cells: Sequence[str]) -> str:
        parts = [str(cells[i]).ljust(widths[i]) for i in range(padded)] + [str(cells[padded])]
        return "  ".join(parts).rstrip()

    lines = [line(headers)]
    for row in rows:
        lines.append(line(row.cells))
        lines.extend(" " * indent + note for note in row.notes)
    return "\n".join(lines)
