"""Tables that never cut a number: whole at the console's width, or stacked row by row.

    console.print(WholeTable(table))

Rich fits a table that is too wide by shortening its columns, which cuts digits off costs
and counts with an ellipsis. `WholeTable` renders the table as it is when it fits, and
otherwise gives each row two lines of its own: the left-aligned cells (names, models,
statuses), then each right-aligned cell (the numbers) after its header. Text wraps at spaces,
so a number is never split.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def _plain(cell: object) -> Text:
    return cell.copy() if isinstance(cell, Text) else Text(str(cell))


def data_cells(*cells: str | Text) -> tuple[Text, ...]:
    """Cells as plain text: Rich reads a `str` cell as markup, so a model name or a
    provider's message with square brackets would be styled, or make it raise."""
    return tuple(cell if isinstance(cell, Text) else Text(cell) for cell in cells)


class WholeTable:
    """`table` where it fits whole, else the same cells stacked (see the module docstring)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Measured unbounded: Measurement.get clamps to the width it is given.
        needed = Measurement.get(console, options.update_width(10_000), self.table).maximum
        if needed <= options.max_width:
            yield self.table
        else:
            yield from self.stacked()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table)

    def stacked(self) -> Iterator[Text]:
        table = self.table
        if table.title:
            yield _plain(table.title)
        columns = table.columns
        cells = [list(column.cells) for column in columns]
        for row in range(table.row_count):
            names = [_plain(cells[i][row]) for i, c in enumerate(columns) if c.justify != "right"]
            names = [n for n in names if n.plain.strip() and n.plain != "-"]
            numbers = [
                Text(f"{column.header} ").append_text(_plain(cells[i][row]))
                for i, column in enumerate(columns)
                if column.justify == "right" and _plain(cells[i][row]).plain.strip()
            ]
            if not names and not numbers:
                continue
            yield Text(" · ").join(names)
            if numbers:
                yield Text("  ").append_text(Text(" · ").join(numbers))
        if table.caption:
            yield _plain(table.caption)
