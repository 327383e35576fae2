"""Reading a queue's attributes: its message counts and its dead-letter target (unit tier)."""

from __future__ import annotations

import pytest

from relaystate.queue_attributes import COUNT_ATTRIBUTES, dead_letter_target, queue_counts


def test_queue_counts_reads_visible_in_flight_and_delayed_in_that_order() -> None:
    attributes = dict(zip(COUNT_ATTRIBUTES, ("3", "2", "1"), strict=True))

    assert (3, 2, 1) == queue_counts(attributes)


@pytest.mark.parametrize("value", ["", "many", None])
def test_a_count_that_is_empty_missing_or_not_a_number_reads_as_zero(value: str | None) -> None:
    attributes = {"ApproximateNumberOfMessages": value} if value is not None else {}

    assert (0, 0, 0) == queue_counts(attributes)


def test_dead_letter_target_reads_the_arn_of_the_redrive_policy() -> None:
    policy = (
        '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:q-dlq", "maxReceiveCount": 5}'
    )

    assert "arn:aws:sqs:us-east-1:123456789012:q-dlq" == dead_letter_target(
        {"RedrivePolicy": policy}
    )


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"RedrivePolicy": ""},
        {"RedrivePolicy": "not json"},
        {"RedrivePolicy": "[1, 2]"},
        {"RedrivePolicy": '{"maxReceiveCount": 5}'},
        {"RedrivePolicy": '{"deadLetterTargetArn": 7}'},
    ],
)
def test_a_queue_without_a_readable_redrive_policy_has_no_dead_letter_target(
    attributes: dict[str, str],
) -> None:
    assert "" == dead_letter_target(attributes)
