"""schemathesis fuzzes the API from its own OpenAPI document, in process: no route answers 500.

One app for the module (a small city with incidents, a work order and an event), called as an
admin so that requests get past the role checks into the services. The number of examples per
operation is bounded and the run derandomised, so it is quick and the same on every run.
"""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from ioc.chain.accounts import create_token
from ioc.chain.actions import Actor
from ioc.chain.major_events import create as create_event
from ioc.intake.ingest import FeedContext, ingest_batch
from ioc.records import IncidentRecord
from ioc.store import models
from ioc.store.db import transaction
from tests.layouts.pages import small_city
from tests.web.test_api import T0, incident


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    runtime, build = small_city(tmp_path_factory.mktemp("fuzz"), mp)
    ctx = FeedContext.for_feed("police", "test", "wgs84", runtime.pack)
    ingest_batch(runtime.engine, ctx, [incident(f"i{n}", n) for n in range(6)],
                 lambda item: [IncidentRecord(**json.loads(item.payload))])
    with transaction(runtime.engine) as s:
        s.add(models.WorkOrder(incident_id=1, org_code="OFF-T01", status="pending"))
    create_event(runtime.engine, Actor("zhang", "duty_officer"), "台风", "typhoon", T0, None, (), (), None)
    app = build()
    yield app.server, {"Authorization": f"Bearer {create_token(runtime.engine, 'admin1')}"}
    mp.undo()


# Each answer is one the document declares for the operation (status code, content type, body schema).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Per operation: requests that fit the schema, then requests that do not (they must get 4XX), on
# objects that exist (incident, order, event 1), so the services are reached, not only the 404.
RUNS = ((GenerationMode.POSITIVE, 10), (GenerationMode.NEGATIVE, 4))


def test_no_route_answers_500(fuzzed):
    # Each operation's strategy by hand: schemathesis' pytest loader (from_fixture) breaks on pytest 9.
    server, token = fuzzed
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", server)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        known = {p.name: 1 for p in operation.path_parameters}
        for mode, examples in RUNS:
            failure = _fuzz(operation.as_strategy(mode, path_parameters=known), examples, token)
            if failure:
                failures.append(f"{operation.label} ({mode}): {failure}")
    assert operations >= 30
    assert not failures, "\n".join(failures)


def _fuzz(strategy, examples: int, token: dict) -> str | None:
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case):
        case.call_and_validate(headers=token, checks=CHECKS)

    try:
        run()
    except (Exception, FailureGroup) as exc:  # collect them all: one run names every route that fails
        return " ".join(str(exc).split())[:300] or type(exc).__name__
    return None
