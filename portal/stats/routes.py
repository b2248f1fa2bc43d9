"""The public statistics page (/stats)."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from portal.dates import monthformat
from portal.i18n import current_language
from portal.security import public
from portal.stats import public as public_figures
from portal.stats.tables import bars, cell_html, format_figure

bp = Blueprint("stats", __name__)
# Figures are formatted the same way on /stats, the dashboard and reports.
bp.add_app_template_filter(cell_html, "figure_cell")
bp.add_app_template_filter(format_figure, "figure")


@bp.get("/stats")
@public
def index():
    data = public_figures.current()
    language = current_language()
    departments = data["departments"]
    for item in departments:
        item["name"] = (item["names"].get(language) or item["names"].get("es")
                        or next(iter(item["names"].values()), "")) if item["id"] else \
            _("Sent without a department")
    chosen = next((item for item in departments
                   if item["slug"] and item["slug"] == request.args.get("department")), None)
    shown = chosen or data["all"]
    months = [date.fromisoformat(start) for start, _end in data["months"]]
    month_labels = [monthformat(month) for month in months]
    chart = bars([(label, row["received"], format_figure(row["received"]))
                  for label, row in zip(month_labels, shown["months"], strict=True)])
    return render_template("stats/index.html", data=data, departments=departments,
                           chosen=chosen, shown=shown, chart=chart, month_labels=month_labels,
                           computed_at=datetime.fromisoformat(data["computed_at"]))
