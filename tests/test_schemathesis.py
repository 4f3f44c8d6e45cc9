"""Schema-driven fuzzing of the whole HTTP API against the app's own `/openapi.json`.

Schemathesis generates valid and invalid requests for every documented operation (its examples
phase, then fuzzing), sends them to the live test server as one tenant (HTTP Basic, and the
`brand` header the reservation face requires), and checks each answer: never a 5xx, a status
code the operation documents, the documented content type, headers and body schema.

The document is built from the app at collection time (one test per operation); the first
test proves it is the very document the server publishes. Deterministic (fixed seed,
derandomized) and bounded (`MAX_EXAMPLES` per operation), so CI sees the same cases every run.
"""

from __future__ import annotations

import base64
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from fidelis.app import create_app
from fidelis.config import Settings
from tests.conftest import Server, TenantHandle

MAX_EXAMPLES = 100
SEED = 20260601


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]

# Building the document needs no database: the app is not started here.
DOCUMENT = create_app(Settings(database_url="sqlite://")).openapi()

schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(
    max_examples=MAX_EXAMPLES, deterministic=True, with_security_parameters=False
)
schema.config.seed = SEED
schema.config.phases.update(phases=["examples", "fuzzing"])


def _headers(tenant: TenantHandle) -> dict[str, str]:
    basic = base64.b64encode(f"{tenant.api_token}:{tenant.api_key}".encode()).decode()
    # The reservation face needs the tenant's slug; the Private API ignores the header.
    return {"Authorization": f"Basic {basic}", "brand": tenant.slug}


def test_the_server_publishes_this_document(server: Server) -> None:
    import httpx

    published = httpx.get(f"{server.base_url}/openapi.json").json()
    assert published == DOCUMENT


@schema.parametrize()
# One tenant per operation, shared by its examples on purpose: state builds up as in real use.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_schema(case: Any, server: Server, tenant: TenantHandle) -> None:
    case.call_and_validate(base_url=server.base_url, headers=_headers(tenant), checks=CHECKS)


def test_a_body_too_large_is_413_in_each_face_shape(tenant: TenantHandle) -> None:
    # Too large for a generated case; the documented 413 of each face, checked by hand.
    huge = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'
    headers = {"Content-Type": "application/json", "brand": tenant.slug}
    reservation = tenant.http.post("/v1/rewards/lock", content=huge, headers=headers)
    assert reservation.status_code == 413
    assert reservation.json() == {
        "error": {"code": "TOO_LARGE", "message": "Request body larger than 1 MiB."}
    }
    private = tenant.http.post("/v1/pvt/Order", content=huge, headers=headers)
    assert private.status_code == 413
    assert private.json()["HasError"] is True
    assert private.json()["ErrorMessage"] == "Request body larger than 1 MiB."
