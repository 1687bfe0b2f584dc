"""Tables that never cut an identifier, at any terminal width.

Lot and order numbers, recipe ``ID@VERSION``, unit names and alarm tags are what people copy
into the next command, so their columns are never wrapped, folded or cut. Other columns give
way instead:

1. the identifiers fit whole and every other column keeps at least its ``min_width``: a boxed
   table whose other columns wrap (long words fold) when the terminal is too narrow for all;
2. the same in a compact table (no rules between columns), which leaves more room;
3. otherwise (a narrow terminal): one record per row, ``header: value`` on a line of its own,
   like psql's expanded display. A long value there may run past the edge of the terminal,
   which wraps it, but it is printed whole on one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mes.cli.common import out

MIN_OTHER = 6  # a column narrower than this is no longer readable
MIN_TEXT = 20  # messages, reasons, errors: a sentence folded narrower reads as a word list
MIN_TIME = 10  # a timestamp keeps its date on one line


@dataclass(frozen=True)
class Column:
    """A column; ``min_width`` is how narrow a non-identifier column may get before the table gives
    way to records."""

    header: str
    identifier: bool = False
    justify: Literal["left", "right"] = "left"
    min_width: int = MIN_OTHER


def text(header: str) -> Column:
    """A column of sentences (messages, reasons, errors)."""
    return Column(header, min_width=MIN_TEXT)


def timestamp(header: str) -> Column:
    return Column(header, min_width=MIN_TIME)


def ident(header: str) -> Column:
    """A column of identifiers: printed whole or the table is printed as records."""
    return Column(header, identifier=True)


def _natural(column: Column, rows: Sequence[Sequence[str]], i: int) -> int:
    cells = [column.header, *(r[i] for r in rows)]
    return max(len(line) for cell in cells for line in (cell.splitlines() or [""]))


def _fit(naturals: list[int], columns: Sequence[Column], room: int) -> list[int] | None:
    """Widths that fit ``room``: identifiers whole, the others shrunk towards their ``min_width``;
    None if even that does not fit."""
    if sum(naturals) <= room:
        return naturals
    floors = [
        n if c.identifier else max(1, min(n, c.min_width)) for n, c in zip(naturals, columns, strict=True)
    ]
    if sum(floors) > room:
        return None
    # What is left is shared out evenly, the columns that want least first: short columns (a state,
    # a priority) come out whole and the long ones (a message) share the rest and wrap.
    spare = room - sum(floors)
    sizes = list(floors)
    wanting = sorted((i for i in range(len(sizes)) if naturals[i] > floors[i]), key=lambda i: naturals[i])
    for k, i in enumerate(wanting):
        give = min(naturals[i] - floors[i], spare // (len(wanting) - k))
        sizes[i] += give
        spare -= give
    return sizes


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    console: Console | None = None,
) -> None:
    """Print ``rows`` (already text) under ``columns``; identifier columns are never cut."""
    console = console or out
    naturals = [_natural(c, rows, i) for i, c in enumerate(columns)]
    n = len(columns)
    # A boxed table takes a padding character each side of every cell and a rule between and
    # around them; the compact one only two spaces between neighbours.
    boxed = _fit(naturals, columns, console.width - (3 * n + 1))
    compact = None if boxed else _fit(naturals, columns, console.width - 2 * (n - 1))
    if boxed is not None:
        table, sizes = Table(title=title, box=box.HEAVY_HEAD), boxed
    elif compact is not None:
        table = Table(
            title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True
        )
        sizes = compact
    else:
        _print_records(columns, rows, title, console)
        return
    for column, size in zip(columns, sizes, strict=True):
        table.add_column(
            column.header,
            no_wrap=column.identifier,
            overflow="ignore" if column.identifier else "fold",
            width=size,
            justify=column.justify,
        )
    for row in rows:
        # Text, not markup: messages, materials and reasons may contain brackets.
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


def _print_records(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], title: str | None, console: Console
) -> None:
    if title:
        console.print(Text(title))
    for n, row in enumerate(rows):
        if n:
            console.print()
        for column, cell in zip(columns, row, strict=True):
            console.print(Text(f"{column.header}: {cell}"), soft_wrap=True)
