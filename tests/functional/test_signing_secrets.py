"""Packet signing keys read from Secrets Manager (moto server on 127.0.0.1)."""

from __future__ import annotations

import base64
import json

import pytest

from relaystate import ConfigurationError, PacketSigner

KEY1, KEY2 = b"k" * 32, b"q" * 32


def test_keys_come_from_secrets_manager_on_first_use(sqs_endpoint: str) -> None:
    import boto3

    client = boto3.session.Session().client(
        "secretsmanager",
        endpoint_url=sqs_endpoint,  # moto's server answers every service
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    keys = {"k1": base64.b64encode(KEY1).decode(), "k2": base64.b64encode(KEY2).decode()}
    client.create_secret(
        Name="relaystate/signing-test", SecretString=json.dumps({"current": "k2", "keys": keys})
    )
    signer = PacketSigner.from_secrets_manager("relaystate/signing-test", client=client)
    signed = signer.sign({"v": 1})
    assert signed["sig"].startswith("k2:")
    assert {"v": 1} == PacketSigner("k1", {"k1": KEY1, "k2": KEY2}).verify(signed)


def test_a_malformed_secret_is_a_clear_error(sqs_endpoint: str) -> None:
    import boto3

    client = boto3.session.Session().client(
        "secretsmanager",
        endpoint_url=sqs_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_secret(Name="relaystate/signing-bad", SecretString="not json")
    signer = PacketSigner.from_secrets_manager("relaystate/signing-bad", client=client)
    with pytest.raises(ConfigurationError, match='"current"'):
        signer.sign({"v": 1})
