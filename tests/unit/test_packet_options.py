"""A packet's options are checked as strictly by a warm worker as by a cold one.

Found by review: the check was remembered for options that passed, by equality -- ``10.0 == 10``
and ``1 == True`` -- so a worker that had taken ``{"max_hops": 10}`` took ``{"max_hops": 10.0}``
from the next packet, which a fresh worker refuses.

Unit tier.
"""

from __future__ import annotations

from typing import Any

import pytest

from relaystate import DONE, RelayJob
from relaystate.errors import InvalidPacketError
from relaystate.packet import RelayPacket


class _Options(RelayJob):
    job_type = "test_packet_options.Options"
    function_name = "options-worker"

    def plan(self) -> Any:
        return 0

    def step(self, cursor: Any) -> Any:
        return DONE


def _with_options(options: dict[str, Any]) -> RelayPacket:
    return RelayPacket.from_json(
        RelayPacket(
            job_id="j",
            job_type=_Options.type_name(),
            function_name="options-worker",
            queue_url="https://sqs.us-east-1.amazonaws.com/1/q",
            options=options,
        ).to_json()
    )


@pytest.mark.parametrize(
    ("good", "bad"),
    [({"max_hops": 10}, {"max_hops": 10.0}), ({"allow_recursion": True}, {"allow_recursion": 1})],
)
def test_a_packet_option_of_the_wrong_type_is_refused_after_an_equal_good_one(
    good: dict[str, Any], bad: dict[str, Any]
) -> None:
    # check_packet_options remembers the options that passed, by equality: 10.0 == 10 and
    # 1 == True, so a warm worker takes what a cold one refuses.
    _Options.from_packet(_with_options(good))

    with pytest.raises(InvalidPacketError):
        _Options.from_packet(_with_options(bad))
