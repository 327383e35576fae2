"""Packet signing: HMAC-SHA256 with key ids; tampered, unsigned or wrongly signed never run."""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

import pytest

from relaystate import DONE, ConfigurationError, PacketSigner, RelayJob, RelayPacket
from relaystate.errors import InvalidSignatureError
from relaystate.testing import memory_backend, sqs_event

KEY1, KEY2 = b"k" * 32, b"q" * 32


def test_signed_packet_verifies_and_loses_its_sig() -> None:
    signer = PacketSigner("k1", {"k1": KEY1})
    signed = signer.sign({"v": 1, "job_id": "j"})
    assert signed["sig"].startswith("k1:")
    assert {"v": 1, "job_id": "j"} == signer.verify(signed)


def test_a_changed_packet_fails_verification() -> None:
    signer = PacketSigner("k1", {"k1": KEY1})
    signed = signer.sign({"v": 1, "cursor": 10})
    with pytest.raises(InvalidSignatureError, match="changed after signing"):
        signer.verify({**signed, "cursor": 11})


def test_an_unsigned_packet_fails_verification() -> None:
    with pytest.raises(InvalidSignatureError, match="not signed"):
        PacketSigner("k1", {"k1": KEY1}).verify({"v": 1})


def test_a_packet_signed_with_an_unknown_key_fails() -> None:
    signed = PacketSigner("k9", {"k9": KEY2}).sign({"v": 1})
    with pytest.raises(InvalidSignatureError, match="'k9'"):
        PacketSigner("k1", {"k1": KEY1}).verify(signed)


def test_rotation_signs_with_the_new_key_and_accepts_the_old() -> None:
    old = PacketSigner("k1", {"k1": KEY1})
    rotated = PacketSigner("k2", {"k2": KEY2, "k1": KEY1})
    assert {"v": 1} == rotated.verify(old.sign({"v": 1}))
    assert rotated.sign({"v": 1})["sig"].startswith("k2:")


def test_keys_come_from_the_environment_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = PacketSigner.from_env("TEST_RELAY_KEYS")
    b64 = base64.b64encode(KEY2).decode()
    monkeypatch.setenv("TEST_RELAY_KEYS", f"k2={b64},k1={base64.b64encode(KEY1).decode()}")
    assert signer.sign({"v": 1})["sig"].startswith("k2:")


@pytest.mark.parametrize("value", ["", "k1", "k1=not base64!", "=abc"])
def test_bad_key_text_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TEST_RELAY_KEYS", value)
    with pytest.raises(ConfigurationError, match="TEST_RELAY_KEYS"):
        PacketSigner.from_env("TEST_RELAY_KEYS").sign({})


def test_short_keys_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="16 bytes"):
        PacketSigner("k1", {"k1": b"short"})


class Signed(RelayJob):
    function_name = "signed-worker"
    signer = PacketSigner("k1", {"k1": KEY1})
    ran: ClassVar[list[Any]] = []

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        Signed.ran.append(cursor)
        return DONE


def started() -> tuple[Any, str]:
    Signed.ran = []
    backend = memory_backend()
    job = Signed(backend=backend).start()
    assert job.packet is not None
    return backend, backend.queues.pop(job.packet.queue_url)


def test_a_signing_job_sends_signed_packets_and_runs_them() -> None:
    backend, body = started()
    assert "sig" in json.loads(body)
    assert {"batchItemFailures": []} == Signed.handle(sqs_event(body), None, backend=backend)
    assert [0] == Signed.ran


@pytest.mark.parametrize(
    "forge",
    [
        lambda raw: {**raw, "cursor": 99},  # tampered
        lambda raw: {k: v for k, v in raw.items() if k != "sig"},  # unsigned
        lambda raw: PacketSigner("k1", {"k1": KEY2}).sign(raw),  # wrong key, same id
    ],
    ids=["tampered", "unsigned", "wrong-key"],
)
def test_a_forged_packet_is_never_run_and_is_reported(forge: Any) -> None:
    backend, body = started()
    forged = json.dumps(forge(json.loads(body)))
    result = Signed.handle(sqs_event(forged), None, backend=backend)
    assert [{"itemIdentifier": "msg-0"}] == result["batchItemFailures"]
    assert [] == Signed.ran


@pytest.mark.parametrize("as_text", [True, False], ids=["json", "mapping"])
def test_resume_refuses_a_forged_packet_rather_than_sign_and_send_it(as_text: bool) -> None:
    backend, body = started()
    raw = {**json.loads(body), "cursor": 99}
    sent = len(backend.queues.calls)

    with pytest.raises(InvalidSignatureError, match="does not match"):
        Signed.resume(json.dumps(raw) if as_text else raw, backend=backend)

    assert sent == len(backend.queues.calls)  # nothing created, nothing sent


def test_resume_of_a_genuine_signed_packet_sends_it_signed() -> None:
    backend, body = started()

    job = Signed.resume(body, backend=backend)

    assert job.packet is not None
    resent = backend.queues.pop(job.packet.queue_url)
    assert {"batchItemFailures": []} == Signed.handle(sqs_event(resent), None, backend=backend)


def test_a_signed_packet_still_reads_as_a_packet() -> None:
    _, body = started()
    assert 0 == RelayPacket.from_json(body).cursor
