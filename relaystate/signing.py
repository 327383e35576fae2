"""Packet integrity (opt-in): HMAC-SHA256 over the packet, with a key id so keys can rotate.

A job with ``signer = PacketSigner...`` signs every packet it sends and, in ``handle()``, runs
only packets that carry a valid signature of one of its keys: a tampered, unsigned or wrongly
signed packet is never run -- it is reported as a batch item failure (so SQS moves it to the
DLQ after ``max_receive_count`` deliveries) and logged.

The signature is a ``"sig": "<key id>:<hex HMAC>"`` field of the packet's JSON object, computed
over the object without ``sig`` in canonical form (sorted keys, no spaces, ASCII).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigurationError, InvalidSignatureError

__all__ = ["InvalidSignatureError", "PacketSigner"]

Keys = tuple[str, Mapping[str, bytes]]  # (current key id, key id -> key)


def canonical(packet: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the packet without ``sig``, sorted keys, ASCII JSON."""
    body = {k: v for k, v in packet.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


class PacketSigner:
    """Signs packets with the current key; accepts a packet signed with any known key.

    Args:
        current: the id of the key that signs.
        keys: key id -> key bytes (at least 32 bytes advised). Keep retired keys here until
            no packet signed with them can still be in flight.

    Example:
        >>> signer = PacketSigner("k1", {"k1": b"0" * 32})
        >>> signed = signer.sign({"v": 1, "job_id": "j"})
        >>> signer.verify(signed) == {"v": 1, "job_id": "j"}
        True
    """

    def __init__(self, current: str = "", keys: Mapping[str, bytes] | None = None) -> None:
        self._loader: Callable[[], Keys] | None = None
        self._keys: Keys | None = None
        self._lock = threading.Lock()
        if keys is not None:
            self._keys = _checked(current, keys)

    @classmethod
    def from_env(cls, variable: str = "RELAYSTATE_SIGNING_KEYS") -> PacketSigner:
        """Keys from an environment variable, read on first use: ``"k2=<base64>,k1=<base64>"``.

        The first key signs; all verify.
        """

        def load() -> Keys:
            text = os.environ.get(variable, "")
            if not text:
                raise ConfigurationError(
                    f"packet signing is on but ${variable} is empty: set it to "
                    "'<key id>=<base64 key>[,<old id>=<base64 key>...]'"
                )
            return _parse(text, variable)

        signer = cls()
        signer._loader = load
        return signer

    @classmethod
    def from_secrets_manager(
        cls, secret_id: str, *, client: Any = None, session: Any = None
    ) -> PacketSigner:
        """Keys from an AWS Secrets Manager secret, read on first use.

        The secret's string is JSON: ``{"current": "k2", "keys": {"k1": "<base64>", ...}}``.
        Needs ``secretsmanager:GetSecretValue`` on the secret.
        """

        def load() -> Keys:
            from .aws.errors import map_aws_errors

            with map_aws_errors("secretsmanager", "GetSecretValue"):
                made = client
                if made is None:
                    import boto3

                    made = (session or boto3.Session()).client("secretsmanager")
                text = made.get_secret_value(SecretId=secret_id)["SecretString"]
            try:
                raw = json.loads(text)
                keys = {kid: base64.b64decode(b64) for kid, b64 in raw["keys"].items()}
                return _checked(str(raw["current"]), keys)
            except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
                raise ConfigurationError(
                    f"secret {secret_id} must hold JSON "
                    '{"current": "<key id>", "keys": {"<key id>": "<base64 key>"}}'
                ) from exc

        signer = cls()
        signer._loader = load
        return signer

    def sign(self, packet: Mapping[str, Any]) -> dict[str, Any]:
        """The packet with its ``sig`` field."""
        current, keys = self._get()
        mac = hmac.new(keys[current], canonical(packet), hashlib.sha256).hexdigest()
        return {**{k: v for k, v in packet.items() if k != "sig"}, "sig": f"{current}:{mac}"}

    def verify(self, packet: Mapping[str, Any]) -> dict[str, Any]:
        """The packet without ``sig``, if its signature is valid.

        Raises:
            InvalidSignatureError: unsigned, an unknown key id, or a signature that does not
                match (the packet was changed, or signed with another key).
        """
        _, keys = self._get()
        sig = packet.get("sig")
        if not isinstance(sig, str) or ":" not in sig:
            raise InvalidSignatureError(
                "the packet is not signed, and this job runs signed packets only", field="sig"
            )
        kid, _, mac = sig.partition(":")
        key = keys.get(kid)
        if key is None:
            raise InvalidSignatureError(
                f"the packet is signed with key {kid!r}, which this worker does not have",
                field="sig",
            )
        expected = hmac.new(key, canonical(packet), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, mac):
            raise InvalidSignatureError(
                "the packet's signature does not match: it was changed after signing",
                field="sig",
            )
        return {k: v for k, v in packet.items() if k != "sig"}

    def _get(self) -> Keys:
        with self._lock:
            if self._keys is None:
                if self._loader is None:  # pragma: no cover - the constructors set one
                    raise ConfigurationError("PacketSigner without keys")
                self._keys = self._loader()
            return self._keys


def _parse(text: str, variable: str) -> Keys:
    keys: dict[str, bytes] = {}
    current = ""
    for part in text.split(","):
        kid, sep, b64 = part.strip().partition("=")
        try:
            if not sep or not kid:
                raise ValueError(part)
            keys[kid] = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise ConfigurationError(
                f"${variable}: {part.strip()!r} is not '<key id>=<base64 key>'"
            ) from exc
        current = current or kid
    return _checked(current, keys)


def _checked(current: str, keys: Mapping[str, bytes]) -> Keys:
    if current not in keys:
        raise ConfigurationError(f"the signing key {current!r} is not among the keys given")
    short = [kid for kid, key in keys.items() if len(key) < 16]
    if short:
        raise ConfigurationError(f"signing keys must have 16 bytes or more (32 advised): {short}")
    return current, dict(keys)
