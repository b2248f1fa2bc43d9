"""Tables of figures that a page shows and a CSV download repeats, cell for cell.

A cell is plain (text, a whole number) or a ``Figure``: a value of a kind (a count, a
share, days, a score) and, on the dashboard, the previous period's value to compare
with. The page formats them for its language; the CSV gives the numbers, with the
previous period in a column of its own.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from flask import Response
from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from markupsafe import Markup, escape

COUNT, SHARE, DAYS, SCORE = "count", "share", "days", "score"


@dataclass(frozen=True)
class Figure:
    value: float | int | None
    kind: str = COUNT
    previous: float | int | None = None
    compared: bool = False  # whether ``previous`` is shown (the dashboard compares)

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class Link:
    """A cell that links somewhere on the page (its text alone in the CSV)."""

    text: str
    url: str


@dataclass
class Table:
    name: str  # the CSV's file name and the download's parameter
    caption: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    # Row headers: the first cell of every row names it (a department, a status...).
    numeric_from: int = 1


@dataclass
class Bar:
    """One bar of a chart (macros/charts.html), as long as ``width`` per cent."""

    label: str
    value: float
    text: str
    width: float = 0.0


def bars(items: list[tuple[str, float, str]]) -> list[Bar]:
    """(label, value, text shown) each, scaled to the longest."""
    top = max((value for _label, value, _text in items), default=0) or 1
    return [Bar(label, value, text, round(100 * value / top, 1)) for label, value, text
            in items]


def _plain(value: Any) -> Any:
    if isinstance(value, list):  # several links in one cell
        return ", ".join(str(_plain(item)) for item in value)
    if isinstance(value, Link):
        return value.text
    if isinstance(value, float):
        return round(value, 4)
    return "" if value is None else value


# Cells that a spreadsheet would read as a formula (CWE-1236): shown as text instead.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_rows(table: Table, previous_label: str) -> list[list[Any]]:
    """The header and rows; a compared figure takes two columns (now, previous)."""
    compared = {index for row in table.rows for index, cell in enumerate(row)
                if isinstance(cell, Figure) and cell.compared}
    header: list[Any] = []
    for index, title in enumerate(table.header):
        header.append(title)
        if index in compared:
            header.append(f"{title} ({previous_label})")
    rows = [header]
    for row in table.rows:
        cells: list[Any] = []
        for index, cell in enumerate(row):
            if isinstance(cell, Figure):
                cells.append(_plain(cell.value))
                if index in compared:
                    cells.append(_plain(cell.previous))
            else:
                cells.append(_plain(cell))
                if index in compared:
                    cells.append("")
        rows.append(cells)
    return [[_safe(cell) for cell in row] for row in rows]


def csv_response(table: Table, previous_label: str, filename: str) -> Response:
    """A CSV that spreadsheets open as they should: UTF-8 with a byte-order mark (so
    accents survive Excel), every text quoted as needed, no formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(csv_rows(table, previous_label))
    response = Response("\ufeff" + buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------- on the page

def format_figure(value: float | int | None, kind: str = COUNT) -> str:
    """A figure as the page's language writes it ("—" for none)."""
    if value is None:
        return "—"
    if kind == SHARE:
        return format_percent(value)
    if kind == DAYS:
        return format_decimal(value, "#,##0.#")
    if kind == SCORE:
        return format_decimal(value, "0.0")
    return format_decimal(value, "#,##0")


def _figure_html(cell: Figure) -> Markup:
    text = escape(format_figure(cell.value, cell.kind))
    if cell.value is None:
        text = Markup('<span aria-hidden="true">—</span><span class="visually-hidden">{}</span>'
                      ).format(_("no data"))
    if not cell.compared:
        return Markup("{}").format(text)
    return Markup('{} <span class="previous">{}</span>').format(
        text, _("previous period: %(value)s", value=format_figure(cell.previous, cell.kind)))


def cell_html(cell: Any) -> Markup:
    if isinstance(cell, list):
        return Markup(", ").join(cell_html(item) for item in cell)
    if isinstance(cell, Figure):
        return _figure_html(cell)
    if isinstance(cell, Link):
        return Markup('<a href="{}">{}</a>').format(cell.url, cell.text)
    return escape("" if cell is None else cell)

