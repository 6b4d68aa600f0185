"""Schemathesis over the OpenAPI schema against the real app: no generated input ever gets a 500."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from assistant.app import create_app


@pytest.fixture(scope="module")
def fuzz_target(session_settings, assistant, tmp_path_factory):
    from fastapi.testclient import TestClient

    from assistant.store import create_key, open_store

    fuzz_settings = session_settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}",
        "rate_limit_per_minute": 100_000,
    })
    _, key = create_key(open_store(fuzz_settings.database_url), name="fuzzer", role="admin")
    app = create_app(fuzz_settings, assistant=assistant)
    with TestClient(app):  # runs the lifespan: store opened, assistant attached
        yield schemathesis.openapi.from_asgi("/openapi.json", app), key


def _operations(schema):
    # POST /v1/admin/rebuild takes no input and rebuilds the index; it is tested on its own.
    return [op for op in (result.ok() for result in schema.get_all_operations()) if op.path != "/v1/admin/rebuild"]


def test_schema_covers_the_public_routes(fuzz_target):
    schema, _ = fuzz_target
    paths = {op.path for op in _operations(schema)}
    assert {"/v1/suggest", "/v1/questions/{question_id}/review", "/v1/review/queue", "/v1/sources/{uri}"} <= paths


def test_no_generated_input_produces_a_server_error(fuzz_target):
    schema, key = fuzz_target
    tried = []
    for operation in _operations(schema):

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call(headers={"X-API-Key": key})
            case.validate_response(response, checks=[not_a_server_error])
            tried.append(response.status_code)

        check()
    assert len(tried) >= 40
