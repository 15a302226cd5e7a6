"""Every operation, positive and negative inputs, every schemathesis check: zero failures."""
from __future__ import annotations

import hypothesis
import schemathesis

from tests.contract.conftest import AUTH, STATEFUL_SCENARIOS, STATEFUL_STEPS, empty

LIFECYCLE = ("create_connection", "get_connection", "update_connection_status", "delete_connection")
STATEFUL_SETTINGS = hypothesis.settings(
    max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS, deadline=None, derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate],
)

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_operation_conforms_to_contract(case):
    case.call_and_validate(headers=AUTH)


def test_connection_lifecycle_stateful(api_schema, db):
    """Create → get/patch/delete sequences following the contract's links; an empty database per scenario."""

    lifecycle = api_schema.include(operation_id=list(LIFECYCLE))

    class Lifecycle(lifecycle.as_state_machine()):
        def setup(self) -> None:
            empty(db)

        def get_call_kwargs(self, case):
            return {"headers": AUTH}

    Lifecycle.run(settings=STATEFUL_SETTINGS)
