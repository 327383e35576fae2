"""Shared fixtures: a real SQS endpoint (moto's server on 127.0.0.1) and real boto3 clients."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from relaystate.local.server import EmbeddedSqs, sqs_client
from tests.e2e.settings import remember

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the SQS endpoint is functional, marked or not (``-m "not functional"``)."""
    for item in items:
        if "sqs_endpoint" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.functional)
