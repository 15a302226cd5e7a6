"""The same contract fuzzing over HTTP against the real `integrations-api serve` process."""
from __future__ import annotations

import os
import signal

import pytest
import schemathesis
from schemathesis import GenerationMode

from tests.contract.conftest import FUZZ_LIMITS, MAX_EXAMPLES_SERVED, filter_body
from tests.e2e.conftest import LiveServer, embedded_database_pids

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for every operation of this module (starting one per operation would dominate the run)."""
    server = LiveServer(tmp_path_factory.mktemp("fuzz-serve"), dict(FUZZ_LIMITS)).start()
    yield server
    server.stop()
    for pid in embedded_database_pids(server.data_dir):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def served_schema(served):
    schema = schemathesis.openapi.from_url(served.api + "/openapi.json")
    schema.config.update(base_url=served.api)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES_SERVED, deterministic=True)
    schema.hook(filter_body)
    return schema


schema = schemathesis.pytest.from_fixture("served_schema")


@schema.parametrize()
def test_served_operation_conforms_to_contract(case, served):
    case.call_and_validate(headers=served.headers(), timeout=30)


def test_served_log_holds_no_token(served):
    # Runs after the fuzzing above in this module: thousands of requests carried the token.
    lines = [line for line in served.output if not line.strip().startswith("export TOKEN=")]
    assert len(lines) > 100
    assert not [line for line in lines if served.token in line]
