"""The ledger's packed texts: a window sized to the text, the same bytes zlib's largest gives."""

from __future__ import annotations

import json
import random
import zlib

import pytest

from relaystate.errors import PacketTooLargeError
from relaystate.ledger import MAX_OUTBOX_BYTES, pack_outbox, unpack_outbox


def _text(size: int, seed: int) -> str:
    """JSON-like text of ``size`` characters, partly repetitive (as packets are)."""
    rng = random.Random(seed)
    words = [f"{rng.getrandbits(40):x}" for _ in range(64)]
    text = json.dumps({"cursor": [rng.choice(words) for _ in range(size // 4)]})
    return text[:size]


@pytest.mark.parametrize("size", [0, 1, 100, 250, 251, 262, 263, 500, 4_000, 40_000, 300_000])
def test_a_packed_text_is_read_back_and_no_larger_than_with_zlibs_default_window(
    size: int,
) -> None:
    text = _text(size, seed=size)
    packed = pack_outbox(text)
    assert unpack_outbox(packed) == text
    assert zlib.decompress(packed).decode("utf-8") == text  # any zlib reads it
    assert len(packed) <= len(zlib.compress(text.encode("utf-8")))


def test_a_text_packed_larger_than_an_item_holds_is_refused() -> None:
    rng = random.Random(7)
    text = "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(MAX_OUTBOX_BYTES // 2))
    with pytest.raises(PacketTooLargeError):
        pack_outbox(text)
