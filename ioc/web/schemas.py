"""What the REST API answers, as pydantic models: the OpenAPI document's response schemas.

A row of the store (an incident, a work order, a unit, ...) is modelled from its columns' types
(``row_model``, through ``ioc.read.rows``), field for field as ``ioc.read.lists`` writes it, so
the document cannot drift from what a list holds. Times are ISO 8601 strings in the city's timezone
(``rest.CityJSON``). ``answers`` gives a route its success body and the errors it can answer;
``tests/web/test_api_fuzz.py`` checks the fuzzer's answers against them, and
``tests/web/test_api.py`` every answer of its tests (flask-openapi3's ``validate_response``).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from ioc.read import kpi, lists, rows


class Error(BaseModel):
    error: str = Field(description="what is wrong, in one line")


class Invalid(Error):
    errors: list[dict[str, Any]] = Field(description="pydantic's reasons, one per field: loc, msg, type")


def row_model(name: str, table: str, fields: tuple[str, ...], doc: str,
              base: type[BaseModel] = BaseModel) -> type[BaseModel]:
    """A model of ``fields`` of the store's ``table`` rows, each typed as its column is."""
    return create_model(name, __base__=base, __doc__=doc,
                        **{f: (kind, ...) for f, kind in rows.field_types(table, fields).items()})


Incident = row_model("Incident", "Incident", lists.INCIDENT_FIELDS, "An incident (or a linked report: parent_id).")
WorkOrder = row_model("WorkOrder", "WorkOrder", lists.WORK_ORDER_FIELDS, "A work order (交办) to one org.")
Unit = row_model("Unit", "Unit", lists.UNIT_FIELDS, "A unit with its CAD status and last position.")
Assignment = row_model("Assignment", "Assignment",
                       ("id", "incident_id", "unit_id", "status", "dispatched_at", "en_route_at", "on_scene_at",
                        "cleared_at", "version"), "A unit sent to an incident, with the CAD interval stamps.")
Dispatched = row_model("Dispatched", "Assignment",
                       ("id", "incident_id", "unit_id", "status", "dispatched_at", "version"), "A unit just sent.")
MajorEvent = row_model("MajorEvent", "MajorEvent",
                       ("id", "name", "kind", "status", "started_at", "ended_at", "categories", "district_codes",
                        "area", "version"), "An emergency event grouping incidents.")


class AlertDefects(BaseModel):
    defects: list[Any] = Field(description="what the adapter repaired or dropped in the CAP message")


Alert = row_model("Alert", "Alert", lists.ALERT_FIELDS, "A CAP warning.", base=AlertDefects)


class Page(BaseModel):
    total: int = Field(description="rows that match")
    limit: int
    offset: int


class IncidentPage(Page):
    total_more: bool = Field(description="more match than total counted (10,000)")
    items: list[Incident]
    next: str | None = Field(description="pass as after= for the next page; null on the last")


class WorkOrderPage(Page):
    items: list[WorkOrder]


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any]


class UnitNames(BaseModel):
    call_sign: str
    unit_type: str


IncidentAssignment = row_model("IncidentAssignment", "Assignment",
                               ("id", "unit_id", "status", "dispatched_at", "en_route_at", "on_scene_at", "cleared_at",
                                "version"), "A unit sent to the incident, with its call sign and type.", base=UnitNames)


class IncidentDetail(Incident):
    timeline: list[TimelineEntry]
    work_orders: list[WorkOrder]
    assignments: list[IncidentAssignment]
    linked_reports: list[Incident]


class Merged(BaseModel):
    merged: Incident = Field(description="the incident merged, now a linked report")
    into: Incident = Field(description="the incident it joined")


class Recommendation(BaseModel):
    need: str
    unit_id: str
    call_sign: str
    unit_type: str
    org_code: str
    status: str
    distance_km: float
    eta_min: float
    load: int
    coverage_gap: list[str] = Field(description="divisions left with no unit of this type in target time")
    suggested: bool = Field(description="among the first units that fill the run card")


class Assignments(BaseModel):
    assignments: list[Dispatched]


class Feed(BaseModel):
    name: str
    kind: str
    enabled: bool
    status: str = Field(description="ok, degraded, down or never_polled")
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    lag_seconds: float | None
    counts: dict[str, Any]


def _kpi_row() -> type[BaseModel]:
    rates = {f"{name}_{part}": (kind, ...) for name in kpi.RATE_NAMES
             for part, kind in (("rate", float | None), ("hits", int), ("total", int))}
    intervals = {f"{name}_{part}": (kind, ...) for name in kpi.INTERVALS
                 for part, kind in (("n", int), ("median_s", float | None), ("p90_s", float | None))}
    return create_model("KpiRow", __doc__="One group's volume, rates (value, hits, total) and intervals (seconds).",
                        group=(str | None, Field(description="the group's value (null: all or unknown)")),
                        incidents=(int, ...), **rates, **intervals)


KpiRow = _kpi_row()


class Kpis(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="the period's start")
    to: datetime = Field(description="the period's end")
    by: str | None = Field(description="what the rows are grouped by (null: one row for the whole city)")
    rows: list[KpiRow]


class Created(BaseModel):
    id: int
    name: str
    version: int


class Spread(BaseModel):
    n: int
    mean: float | None
    median: float | None


class EventKpis(BaseModel):
    event_id: int
    total: int
    open: int
    closed: int
    by_category: dict[str, int]
    by_status: dict[str, int]
    by_division: dict[str, int]
    acknowledge_minutes: Spread
    resolve_minutes: Spread


@cache
def items(model: type[BaseModel]) -> type[BaseModel]:
    """``{"items": [model, ...]}``."""
    return create_model(f"{model.__name__}List", items=(list[model], ...))


# The errors an endpoint can answer: a token or session is always needed (401) and a request
# that does not fit its model is 422 (flask-openapi3 adds that to every operation anyway).
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 422: Invalid}


def answers(body: type[BaseModel], *errors: int) -> dict[int, type[BaseModel]]:
    """The responses of an endpoint: ``body`` with 200, 401, 422 and the ``errors`` named."""
    return {200: body} | {code: ERRORS[code] for code in sorted({401, 422, *errors})}
