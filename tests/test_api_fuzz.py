"""A schema-driven fuzzer (schemathesis) against the API, on the app's real loopback
socket: for every operation of GET /api/v1/openapi.json, examples that fit the document
and examples that break it. Every answer must be one the document lists, with the
content and schema it states, and never a 5xx (docs/hardening.md).

Bounded and deterministic: a few examples per operation and mode, derandomized, so the
run takes seconds and fails the same way every time.
"""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from bot.app import build_app
from bot.handlers.api import openapi_document
from tests.helpers import auth

EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,  # what the document forbids is refused (no lax coercion)
]

pytestmark = pytest.mark.timeout(120)


def fuzz(base_url: str, ran: list[str]) -> list[str]:
    """Run every operation in both modes; the failures, one line each."""
    schema = schemathesis.openapi.from_dict(openapi_document())
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case) -> None:
                response = case.call(base_url=base_url, headers=auth(), timeout=10)
                case.validate_response(response, checks=CHECKS)

            try:
                run()
                ran.append(f"{operation.label} [{mode.value}]")
            except Unsatisfiable:
                # Nothing to break (no parameters, no body): only possible in negative mode.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # noqa: BLE001 - collected, reported together below
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:600]}")
    return failures


async def test_schemathesis_finds_nothing_the_document_does_not_say(settings_factory,
                                                                    make_runtime):  # fmt: skip
    rt = await make_runtime(settings_factory())
    async with TestClient(TestServer(build_app(rt))) as client:
        base_url = str(client.make_url("")).rstrip("/")
        ran: list[str] = []
        failures = await asyncio.to_thread(fuzz, base_url, ran)
    assert failures == [], "\n\n".join(failures)
    assert len(ran) >= 2 * len(openapi_document()["paths"]), ran  # every route was fuzzed
