"""The demo city's people: duty officers who acknowledge, hand over, verify, close and call back,
and the departments' and town offices' handlers who answer their work orders.

Without them the demo's store holds only what the sources say, and nobody in the IOC ever
acknowledges anything: 响应率 stays 0 % and 解决率 / 满意率 empty. They act only through the
chain's service functions (``ioc.chain.workflow``, ``ioc.chain.workorders``), as a person on the
pages would, so every step has its event, audit row and clocks.

Each step of each incident or order has a reaction time drawn once from its id (so a run tells
the same story however often it looks), and is stamped at that time, once ``clock`` has passed
it. ``clock`` is the demo city's own: a fast replay of a typhoon gets its acknowledgements in
sim time too. A realistic share is late or never happens: about one in ten acknowledgements is
late, one order in twelve misses its sign-off, a fifth of callers cannot be
reached.

Composition (like ``ioc.compose``): it runs only when the demo is on, and may use the store.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from itertools import islice
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from ioc.chain import workflow, workorders
from ioc.chain.actions import Actor
from ioc.city.pack import CityPack
from ioc.errors import ActionRefused
from ioc.store import models
from ioc.store.db import session_factory

log = logging.getLogger(__name__)

DUTY = Actor(username="demo:duty", role="duty_officer")
BATCH = 100  # steps of one kind per run: a run stays short (and the feeds get the store) however far behind
CALLBACK_CHANNELS = ("110", "119", "120", "12345", "urban")  # a citizen to call back
ORDER_CHANNELS = ("12345",)  # the hotline hands its items to departments and town offices
UNREACHED = 5  # one caller in five (incident id divisible by it) is never reached
MARKS = (("satisfied", 0.72), ("basically_satisfied", 0.16), ("dissatisfied", 0.07), ("unresolved", 0.05))
FEEDBACK = "已到现场处置完毕，并已回复市民"
_I, _W = models.Incident, models.WorkOrder


def _draw(key: str) -> random.Random:
    return random.Random(f"demo-duty|{key}")


def ack_delay(incident_id: int, window_s: float) -> float:
    """Seconds from the report to 受理: mostly well inside the window, about one in ten late."""
    rng = _draw(f"ack|{incident_id}")
    return window_s * (rng.uniform(0.1, 0.7) if rng.random() < 0.9 else rng.uniform(1.1, 2.5))


def mark_of(incident_id: int) -> str:
    """The call-back's answer (callers not reached are left out in SQL: ``UNREACHED``)."""
    x = _draw(f"mark|{incident_id}").random()
    for mark, share in MARKS:
        x -= share
        if x < 0:
            return mark
    return MARKS[-1][0]


def _minutes(key: str, low: float, high: float) -> timedelta:
    return timedelta(minutes=_draw(key).uniform(low, high))


@dataclass
class DutyReport:
    done: dict[str, int] = field(default_factory=dict)
    refused: int = 0

    def count(self, step: str) -> None:
        self.done[step] = self.done.get(step, 0) + 1

    def summary(self) -> str:
        steps = ", ".join(f"{k} {n}" for k, n in sorted(self.done.items())) or "nothing due"
        return f"demo duty: {steps}" + (f"; {self.refused} refused (the source moved first)" if self.refused else "")


class DemoDuty:
    """One ``run`` does every step that has come due by ``clock()``."""

    def __init__(self, engine: Engine, pack: CityPack, clock: Callable[[], datetime]) -> None:
        self.engine, self.pack, self.clock = engine, pack, clock

    def run(self) -> DutyReport:
        now, report = self.clock(), DutyReport()
        for step in (self._acknowledge, self._hand_over, self._accept, self._feedback, self._verify,
                     self._close, self._call_back):
            for label, action, at in islice(step(now), BATCH):
                try:
                    action(at)
                except ActionRefused:  # the source got there first (closed it, dispatched it)
                    report.refused += 1
                else:
                    report.count(label)
        return report

    def _rows(self, stmt):  # noqa: ANN001, ANN202 - a select of plain columns
        with session_factory(self.engine)() as session:
            return session.execute(stmt).all()

    def _acknowledge(self, now: datetime):  # noqa: ANN202
        rows = self._rows(select(_I.id, _I.version, _I.reported_at, _I.acknowledge_due)
                          .where(_I.status == "new", _I.parent_id.is_(None), _I.reported_at <= now)
                          .order_by(_I.reported_at))
        for ident, version, reported, due in rows:
            window = ((due - reported).total_seconds() if due else 1800.0) or 60.0
            at = reported + timedelta(seconds=ack_delay(ident, window))
            if at <= now:
                yield "acknowledged", _bind(workflow.acknowledge, self.engine, DUTY, ident, version), at

    def _hand_over(self, now: datetime):  # noqa: ANN202
        has_order = select(_W.id).where(_W.incident_id == _I.id).exists()
        rows = self._rows(select(_I.id, _I.version, _I.org_code, _I.acknowledged_at)
                          .where(_I.status.in_(("acknowledged", "dispatched")), _I.channel.in_(ORDER_CHANNELS),
                                 _I.org_code.is_not(None), _I.acknowledged_at.is_not(None), ~has_order,
                                 _I.parent_id.is_(None))
                          .order_by(_I.acknowledged_at))
        for ident, version, org, acknowledged in rows:
            at = acknowledged + _minutes(f"order|{ident}", 2, 12)
            if at <= now:
                def create(stamp: datetime, ident: int = ident, org: str = org, version: int = version) -> None:
                    workorders.create(self.engine, DUTY, ident, [org], pack=self.pack, seen_version=version,
                                      now=stamp)
                yield "handed over", create, at

    def _orders(self, status: str, stamp):  # noqa: ANN001, ANN202
        return self._rows(select(_W.id, _W.version, _W.org_code, stamp, _W.accept_by)
                          .where(_W.status == status).order_by(stamp))

    def _accept(self, now: datetime):  # noqa: ANN202
        for ident, version, org, created, accept_by in self._orders("pending", _W.created_at):
            window = (accept_by - created).total_seconds() / 60 if accept_by else 60.0
            late = _draw(f"late-accept|{ident}").random() < 0.08
            at = created + _minutes(f"accept|{ident}", *((1.1 * window, 2 * window) if late else (2, 0.8 * window)))
            if at <= now:
                yield "accepted", _bind(workorders.accept, self.engine, _handler(org), ident, version), at

    def _feedback(self, now: datetime):  # noqa: ANN202
        for ident, version, org, accepted, _ in self._orders("accepted", _W.accepted_at):
            at = accepted + _minutes(f"feedback|{ident}", 20, 150)
            if at <= now:
                def answer(stamp: datetime, ident: int = ident, version: int = version, org: str = org) -> None:
                    handler = _handler(org)
                    workorders.report_feedback(self.engine, handler, ident, version, FEEDBACK, now=stamp)
                    workorders.mark_done(self.engine, handler, ident, version + 1, now=stamp)
                yield "answered", answer, at

    def _verify(self, now: datetime):  # noqa: ANN202
        for ident, version, _, done, _ in self._orders("done", _W.done_at):
            at = done + _minutes(f"verify|{ident}", 5, 40)
            if at <= now:
                yield "verified", _bind(workorders.verify_and_close, self.engine, DUTY, ident, version), at

    def _close(self, now: datetime):  # noqa: ANN202
        rows = self._rows(select(_I.id, _I.version, _I.resolved_at)
                          .where(_I.status == "resolved", _I.resolved_at.is_not(None)).order_by(_I.resolved_at))
        for ident, version, resolved in rows:
            at = resolved + _minutes(f"close|{ident}", 5, 30)
            if at <= now:
                yield "closed", _bind(workflow.close, self.engine, DUTY, ident, version), at

    def _call_back(self, now: datetime):  # noqa: ANN202
        rows = self._rows(select(_I.id, _I.version, _I.closed_at)
                          .where(_I.status == "closed", _I.satisfaction.is_(None), _I.closed_at.is_not(None),
                                 _I.closed_at >= now - timedelta(hours=48), _I.parent_id.is_(None),
                                 _I.channel.in_(CALLBACK_CHANNELS), _I.id % UNREACHED != 0)
                          .order_by(_I.closed_at))
        for ident, version, closed in rows:
            mark = mark_of(ident)
            at = closed + _minutes(f"callback|{ident}", 10, 90)
            if at <= now:
                def call(stamp: datetime, ident: int = ident, version: int = version, mark: str = mark) -> None:
                    workflow.record_satisfaction(self.engine, DUTY, ident, version, mark, now=stamp)
                yield "called back", call, at


def _handler(org_code: str) -> Actor:
    return Actor(username=f"demo:{org_code}", role="handler", org_code=org_code)


def _bind(fn, engine: Engine, actor: Actor, ident: int, version: int):  # noqa: ANN001, ANN202
    def act(stamp: datetime) -> None:
        fn(engine, actor, ident, version, now=stamp)
    return act
