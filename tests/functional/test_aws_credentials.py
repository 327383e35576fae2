"""A client without credentials: botocore's own error, mapped to CredentialsError."""

from __future__ import annotations

import boto3
import botocore.session
import pytest
from botocore.credentials import CredentialResolver

from relaystate.aws import SqsQueues
from relaystate.errors import (
    CredentialsError,
)


def test_no_credentials_raises_credentials_error(sqs_endpoint: str) -> None:
    # A botocore session that finds no credentials anywhere: signing fails before any request.
    session = botocore.session.get_session()
    session.register_component("credential_provider", CredentialResolver(providers=[]))
    client = boto3.Session(botocore_session=session).client(
        "sqs", region_name="us-east-1", endpoint_url=sqs_endpoint
    )

    with pytest.raises(CredentialsError) as caught:
        SqsQueues(client).send(f"{sqs_endpoint}/123456789012/relay-test", "body")

    expected = "NoCredentialsError"
    assert expected == type(caught.value.__cause__).__name__
