"""Shared fixtures and the test tiers.

Tiers are folders, and each folder's tests carry its marker (``pytest -m unit`` runs the unit
tier alone, in seconds):

- ``tests/unit``: no endpoint, no network; job logic on the in-memory twins, the simulator,
  request shapes through ``botocore.stub.Stubber``; the package's doctests are unit too.
- ``tests/functional``: a real SQS/DynamoDB endpoint (moto's server on 127.0.0.1, one per
  session) with real boto3 clients, and LocalLambda (the shared ``lam`` fixture).
- ``tests/contract``: one contract over the ledger's twins; MemoryLedger's runs are unit,
  DynamoDBLedger's functional.
- ``tests/chaos``: LocalLambda's fault injection over whole jobs (slow).
- ``tests/fuzz``: hypothesis over hostile input (slow).
- ``tests/e2e``: a real AWS account, opt-in (skipped unless ``RELAYSTATE_E2E_REGION`` is set).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from relaystate.local.server import EmbeddedSqs, sqs_client
from tests.e2e.settings import remember
from tests.sam_app import sam_app, sam_template  # noqa: F401  (fixtures, for the SAM example's tests)

if TYPE_CHECKING:
    from relaystate.local import LocalLambda

TESTS = Path(__file__).parent
TIERS = ("unit", "functional", "contract", "chaos", "fuzz", "e2e")
#: The shared ``lam`` fixture's options; ``@pytest.mark.lam(**options)`` overrides them.
LAM_DEFAULTS: dict[str, Any] = {"timeout_s": 2.0, "retry_delay_s": 0}

# The opt-in e2e tier (tests/e2e) runs on the user's real credentials: kept aside, unused, first.
remember(os.environ)
# Nothing in the tests may reach AWS: fake credentials, a region, and no config files.
for key, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}.items():
    os.environ[key] = value
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    """The URL of one moto SQS server for the whole test session."""
    with EmbeddedSqs() as server:
        yield server.endpoint_url


@pytest.fixture(scope="session")
def boto_session() -> Any:
    """One boto3 session for the test session: a new one reloads botocore's data (~0.1 s)."""
    import boto3

    return boto3.session.Session()


@pytest.fixture
def sqs(sqs_endpoint: str, boto_session: Any) -> Any:
    """A real boto3 SQS client on the embedded endpoint (a new client per test)."""
    return sqs_client(sqs_endpoint, session=boto_session)


@pytest.fixture
def lam(request: pytest.FixtureRequest, sqs_endpoint: str) -> Iterator[LocalLambda]:
    """A LocalLambda on the session's endpoint, closed after the test.

    Options default to :data:`LAM_DEFAULTS`; a module, class or test sets its own with
    ``@pytest.mark.lam(timeout_s=1.0, concurrency=4)`` (the closest mark wins).
    """
    from relaystate.local import LocalLambda

    options = dict(LAM_DEFAULTS)
    for mark in reversed(list(request.node.iter_markers("lam"))):
        options.update(mark.kwargs)
    with LocalLambda(endpoint_url=sqs_endpoint, **options) as runtime:
        yield runtime


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier: its folder's, or unit for the package's doctests.

    A test that uses the SQS endpoint is functional wherever it lives (the contract's
    DynamoDBLedger runs), so ``-m unit`` never needs an endpoint.
    """
    for item in items:
        functional = item.get_closest_marker("functional") is not None
        if "sqs_endpoint" in getattr(item, "fixturenames", ()) and not functional:
            item.add_marker(pytest.mark.functional)
            functional = True
        path = Path(str(item.path))
        tier = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else "unit"
        if tier in TIERS and not (tier in ("unit", "contract") and functional):
            item.add_marker(getattr(pytest.mark, "unit" if tier == "contract" else tier))
