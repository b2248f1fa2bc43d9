"""The managers' dashboard: a period's figures beside the previous period's.

Everything here is assembled from ``figures`` (aggregate SQL) into ``tables.Table``s,
so that the page and its CSV downloads show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from portal.extensions import db
from portal.i18n import current_language
from portal.models import Case, CaseKind, Category, Channel, Department, IdeaStatus
from portal.stats import figures, rollup, themes
from portal.stats.tables import COUNT, DAYS, SCORE, SHARE, Bar, Figure, Link, Table, bars


@dataclass
class Dashboard:
    period: figures.Period
    previous: figures.Period
    department: Department | None
    headline: list[tuple[str, Figure]]
    tables: dict[str, Table]
    charts: dict[str, list[Bar]] = field(default_factory=dict)
    comments: list[Case] = field(default_factory=list)
    themes: themes.Themes | None = None


def department_name(department_id: int | None, names: dict[int, Department]) -> str:
    if department_id is None:
        return _("No department (triage)")
    department = names.get(department_id)
    return department.name(current_language()) if department else str(department_id)


def _compare(current, previous, kind=COUNT) -> Figure:
    return Figure(current, kind, previous, compared=True)


def build(period: figures.Period, department: Department | None = None) -> Dashboard:
    # Recount the days whose cases changed since the last reader, and keep the count:
    # this page only reads, and must not hold SQLite's write lock while it renders.
    rollup.catch_up()
    db.session.commit()
    ids = [department.id] if department is not None else None
    periods = [period.previous(), period]
    language = current_language()
    departments = {item.id: item for item in db.session.scalars(select(Department))}
    (before, now) = figures.service_figures(periods, ids)
    (volumes_before, volumes_now) = figures.volumes(periods, ids)
    (ideas_before, ideas_now) = figures.idea_figures(periods, ids)
    (kb_before, kb_now) = figures.deflection(periods)
    backlog = figures.backlog(ids)
    awaiting = figures.ideas_awaiting(ids)
    whole_now, whole_before = figures.total(now), figures.total(before)

    headline = [
        (_("Cases received"), _compare(whole_now.received, whole_before.received)),
        (_("Median first answer (working days)"),
         _compare(whole_now.first_response_median, whole_before.first_response_median, DAYS)),
        (_("First answers on time"),
         _compare(whole_now.on_time_share, whole_before.on_time_share, SHARE)),
        (_("Satisfaction (1 to 5)"),
         _compare(whole_now.satisfaction, whole_before.satisfaction, SCORE)),
        (_("Reopened after the answer"),
         _compare(whole_now.reopen_rate, whole_before.reopen_rate, SHARE)),
        (_("Open cases now"), Figure(sum(count for count, _late in backlog.values()))),
        (_("Overdue now"), Figure(sum(late for _count, late in backlog.values()))),
    ]

    tables: dict[str, Table] = {}
    tables["kinds"] = Table("kinds", _("Cases received by kind"), [_("Kind"), _("Cases")], [
        [kind.label, _compare(volumes_now.kind[kind.value], volumes_before.kind[kind.value])]
        for kind in CaseKind])
    tables["channels"] = Table("channels", _("Cases received by channel"),
                               [_("Channel"), _("Cases")], [
        [channel.label, _compare(volumes_now.channel[channel.value],
                                 volumes_before.channel[channel.value])]
        for channel in Channel
        if volumes_now.channel[channel.value] or volumes_before.channel[channel.value]])
    categories = {item.id: item for item in db.session.scalars(select(Category))}
    topics = sorted(set(volumes_now.topic) | set(volumes_before.topic),
                    key=lambda key: (-volumes_now.topic[key], -volumes_before.topic[key],
                                     str(key)))
    tables["topics"] = Table("topics", _("Cases received by topic"),
                             [_("Topic"), _("Department"), _("Cases")], [
        [categories[key].name(language) if key in categories else _("No topic"),
         department_name(categories[key].department_id, departments)
         if key in categories else "",
         _compare(volumes_now.topic[key], volumes_before.topic[key])]
        for key in topics], numeric_from=2)

    scope = sorted(set(now) | set(before) | set(backlog),
                   key=lambda key: department_name(key, departments))
    empty = figures.ServiceFigures()
    times = []
    for key in scope:
        current, earlier = now.get(key, empty), before.get(key, empty)
        target = departments.get(key)
        times.append([
            department_name(key, departments),
            _compare(current.received, earlier.received),
            _compare(current.first_response_median, earlier.first_response_median, DAYS),
            _compare(current.first_response_p90, earlier.first_response_p90, DAYS),
            _target(target, "first"),
            _compare(current.on_time_share, earlier.on_time_share, SHARE),
            _compare(current.resolution_median, earlier.resolution_median, DAYS),
            _compare(current.resolution_p90, earlier.resolution_p90, DAYS),
            _target(target, "resolution"),
            _compare(current.resolved_on_time_share, earlier.resolved_on_time_share, SHARE),
            _compare(current.reopen_rate, earlier.reopen_rate, SHARE),
        ])
    if len(scope) > 1:
        times.append([
            _("All"), _compare(whole_now.received, whole_before.received),
            _compare(whole_now.first_response_median, whole_before.first_response_median, DAYS),
            _compare(whole_now.first_response_p90, whole_before.first_response_p90, DAYS), "",
            _compare(whole_now.on_time_share, whole_before.on_time_share, SHARE),
            _compare(whole_now.resolution_median, whole_before.resolution_median, DAYS),
            _compare(whole_now.resolution_p90, whole_before.resolution_p90, DAYS), "",
            _compare(whole_now.resolved_on_time_share, whole_before.resolved_on_time_share,
                     SHARE),
            _compare(whole_now.reopen_rate, whole_before.reopen_rate, SHARE)])
    tables["times"] = Table("times", _("Answer times against the targets"), [
        _("Department"), _("Cases received"), _("First answer: median"),
        _("First answer: 90th percentile"), _("First answer target"), _("First answers on time"),
        _("Resolution: median"), _("Resolution: 90th percentile"), _("Resolution target"),
        _("Resolved on time"), _("Reopened")], times)

    tables["backlog"] = Table("backlog", _("Open and overdue cases now"),
                              [_("Department"), _("Open"), _("Overdue")], [
        [department_name(key, departments),
         Link(str(backlog[key][0]), _queue_url("department" if key else "triage", key)),
         Link(str(backlog[key][1]), _queue_url("overdue", key))]
        for key in sorted(backlog, key=lambda key: department_name(key, departments))])

    tables["bands"] = Table("bands", _("How soon the first answer came"),
                            [_("Working days"), _("Cases")], [
        [label, _compare(count, dict(whole_before.within())[band])]
        for (band, count), label in zip(whole_now.within(), _band_labels(), strict=True)])

    tables["satisfaction"] = Table("satisfaction", _("Ratings given"),
                                   [_("Score"), _("Ratings")], [
        [str(score), _compare(whole_now.ratings[score], whole_before.ratings[score])]
        for score in range(5, 0, -1)])

    tables["knowledge"] = Table("knowledge", _("Questions answered by the knowledge base"),
                                [_("Figure"), _("Forms")], [
        [_("A suggested answer was opened while writing"), _compare(kb_now[0], kb_before[0])],
        [_("…and the question was never sent"), _compare(kb_now[1], kb_before[1])]])

    proposed_now = figures.ideas_total(ideas_now)
    proposed_before = figures.ideas_total(ideas_before)
    idea_rows = [[status.label, _compare(proposed_now.proposed[status.value],
                                         proposed_before.proposed[status.value])]
                 for status in IdeaStatus
                 if proposed_now.proposed[status.value] or
                 proposed_before.proposed[status.value]]
    idea_rows.append([_("Proposed in all"), _compare(proposed_now.total, proposed_before.total)])
    idea_rows.append([_("Answered in the period"),
                      _compare(proposed_now.answered, proposed_before.answered)])
    idea_rows.append([_("Waiting for an answer now"),
                      Figure(sum(count for count, _late in awaiting.values()))])
    idea_rows.append([_("Answer overdue now"),
                      Figure(sum(late for _count, late in awaiting.values()))])
    tables["ideas"] = Table("ideas", _("Ideas proposed in the period, by their status now"),
                            [_("Ideas"), _("Number")], idea_rows)

    found = themes.compute(period, ids)

    def raised_in(sources):
        return [Link(source.key if source.kind == "case" else f"#{source.key}",
                     url_for("staff.case", reference=source.key) if source.kind == "case"
                     else url_for("ideas.idea", idea_id=int(source.key)))
                for source in sources]

    tables["themes"] = Table("themes", _("Rising themes in complaints and ideas"), [
        _("Theme"), _("Raised in"), _("Cases and ideas"), _("Rise")], [
        [theme.label, raised_in(theme.sources), _compare(theme.count, theme.previous),
         Figure(round(theme.rise, 1), SCORE)] for theme in found.rising], numeric_from=2)
    tables["named_themes"] = Table("named_themes", _("Named themes"), [
        _("Theme"), _("Raised in"), _("Cases and ideas")], [
        [item.theme.name, raised_in(item.sources), _compare(item.count, item.previous)]
        for item in found.named], numeric_from=2)

    charts = {
        "bands": bars([(label, count, str(count)) for (_band, count), label
                       in zip(whole_now.within(), _band_labels(), strict=True)]),
        "satisfaction": bars([(str(score), whole_now.ratings[score],
                               str(whole_now.ratings[score])) for score in range(5, 0, -1)]),
        "channels": bars([(row[0], row[1].value, str(row[1].value))
                          for row in tables["channels"].rows]),
    }
    return Dashboard(period=period, previous=period.previous(), department=department,
                     headline=headline, tables=tables, charts=charts,
                     comments=figures.latest_comments(period, ids), themes=found)


def _band_labels() -> list[str]:
    return [_("Up to 5"), _("6 to 10"), _("11 to 20"), _("More than 20"), _("Not answered yet")]


def _target(department: Department | None, which: str) -> str:
    if department is None:
        return ""
    days = department.first_response_days if which == "first" else department.resolution_days
    if department.calendar_days:
        return ngettext("%(num)d calendar day", "%(num)d calendar days", days)
    return ngettext("%(num)d working day", "%(num)d working days", days)


def _queue_url(queue: str, department_id: int | None) -> str:
    args = {"queue": queue}
    if department_id is not None:
        args["department"] = department_id
    return url_for("staff.index", **args)
