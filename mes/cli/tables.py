"""Tables that never cut an identifier, nor split a word, at any terminal width.

Lot and order numbers, recipe ``ID@VERSION``, unit names, user names and alarm tags are what
people copy into the next command, so their columns are never wrapped, folded or cut. The
other columns never split a word either: a state, a status, a number, a hash or a name is
printed whole, and a column of them wraps only between words (a header too). Sentences —
messages, reasons, errors — are what gives way: they wrap between words, down to
``MIN_TEXT`` columns (a word longer than that is folded).

1. the identifiers and words fit whole and every sentence column keeps at least ``MIN_TEXT``:
   a boxed table, whose columns wrap between words when the terminal is too narrow for all;
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

MIN_TEXT = 20  # messages, reasons, errors: a sentence wrapped narrower reads as a word list


@dataclass(frozen=True)
class Column:
    """A column of ``kind``: ``identifier`` (never wrapped), ``words`` (wraps between words, never inside
    one: states, numbers, names, times) or ``text`` (sentences: wrap down to ``MIN_TEXT`` columns)."""

    header: str
    kind: Literal["identifier", "words", "text"] = "words"
    justify: Literal["left", "right"] = "left"


def text(header: str) -> Column:
    """A column of sentences (messages, reasons, errors)."""
    return Column(header, kind="text")


def timestamp(header: str) -> Column:
    """A column of ``YYYY-MM-DD HH:MM:SS``: the date and the time may go on two lines, each whole."""
    return Column(header)


def ident(header: str) -> Column:
    """A column of identifiers: printed whole or the table is printed as records."""
    return Column(header, kind="identifier")


def _lines(cell: str) -> list[str]:
    return cell.splitlines() or [""]


def _natural(column: Column, rows: Sequence[Sequence[str]], i: int) -> int:
    cells = [column.header, *(r[i] for r in rows)]
    return max(len(line) for cell in cells for line in _lines(cell))


def _floor(column: Column, rows: Sequence[Sequence[str]], i: int, natural: int) -> int:
    """How narrow the column may get: its longest line (identifiers), its longest word, or
    ``MIN_TEXT`` (sentences); never narrower than the longest word of its header."""
    header = max((len(w) for w in column.header.split()), default=1)
    if column.kind == "identifier":
        widest = max((len(line) for r in rows for line in _lines(r[i])), default=0)
    elif column.kind == "words":
        widest = max((len(w) for r in rows for w in r[i].split()), default=0)
    else:
        widest = min(natural, MIN_TEXT)
    return max(1, header, widest)


def _fit(naturals: list[int], floors: list[int], room: int) -> list[int] | None:
    """Widths that fit ``room``, each column between its floor and its natural width; None if even
    the floors do not fit."""
    if sum(naturals) <= room:
        return naturals
    if sum(floors) > room:
        return None
    # What is left is shared out evenly, the columns that want least first: short columns come
    # out whole and the long ones (a message) share the rest and wrap.
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
    """Print ``rows`` (already text) under ``columns``; identifiers are never cut, words never split."""
    console = console or out
    naturals = [_natural(c, rows, i) for i, c in enumerate(columns)]
    floors = [_floor(c, rows, i, wanted) for i, (c, wanted) in enumerate(zip(columns, naturals, strict=True))]
    n = len(columns)
    # A boxed table takes a padding character each side of every cell and a rule between and
    # around them; the compact one only two spaces between neighbours.
    boxed = _fit(naturals, floors, console.width - (3 * n + 1))
    compact = None if boxed else _fit(naturals, floors, console.width - 2 * (n - 1))
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
        identifier = column.kind == "identifier"
        table.add_column(
            # A header wraps between its words, whatever its column does.
            Text(column.header, no_wrap=False, overflow="fold"),
            no_wrap=identifier,
            overflow="ignore" if identifier else "fold",
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
