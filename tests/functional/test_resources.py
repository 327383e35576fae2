"""Setup and teardown of a job's resources: relaystate.lifecycle over the backend ports.

Queues are real (SqsQueues on moto's SQS server, 127.0.0.1); mappings are a small fake that keeps
its mappings in a dict. Both write to one call log, so the order of calls across the two ports
can be checked, and both can be told to fail at a given call.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import pytest

from relaystate.aws import SqsQueues
from relaystate.errors import (
    InvalidDelayError,
    InvalidQueueNameError,
    MappingTimeoutError,
    PacketTooLargeError,
    RelayError,
    ThrottledError,
)
from relaystate.names import queue_name_for
from relaystate.packet import RelayPacket
from relaystate.ports import Backend, MappingInfo, QueueRef
from relaystate.resources import QueueSpec, Resources, ensure, provision
from relaystate.sending import check_delay, send_packets
from relaystate.teardown import release
from relaystate.testing import MemoryMappings

ROLLBACK_NOTE = "relaystate rolled back what this setup had created"
Call = tuple[str, ...]


class Failing:
    """Logs every call as ``("<prefix>.<method>", *args)``; told to, fails the nth call of one."""

    prefix = ""

    def __init__(self, log: list[Call]) -> None:
        self.log = log
        self.fail_at: tuple[str, int] | None = None
        self.error: RelayError = ThrottledError("injected failure")
        self.counts: dict[str, int] = {}

    def fail(self, method: str, nth: int = 1) -> RelayError:
        """Fail the ``nth`` call of ``method`` from now on; return the error it will raise."""
        self.fail_at = (method, nth)
        self.counts = {}
        self.error = ThrottledError(f"injected failure at {type(self).__name__}.{method} #{nth}")
        return self.error

    def record(self, method: str, *args: str) -> None:
        self.log.append((f"{self.prefix}.{method}", *args))
        self.counts[method] = self.counts.get(method, 0) + 1
        if self.fail_at == (method, self.counts[method]):
            raise self.error


class RecordingQueues(Failing):
    """The real queue port, with every call logged (and one of them failed, if told)."""

    prefix = "queues"

    def __init__(self, real: SqsQueues, log: list[Call]) -> None:
        super().__init__(log)
        self.real = real

    def create(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> QueueRef:
        self.record("create", name)
        return self.real.create(name, attributes, tags)

    def set_attributes(self, url: str, attributes: Mapping[str, str]) -> None:
        self.record("set_attributes", url)
        self.real.set_attributes(url, attributes)

    def delete(self, url: str) -> None:
        self.record("delete", url)
        self.real.delete(url)

    def describe(self, url: str) -> Mapping[str, str] | None:
        self.record("describe", url)
        return self.real.describe(url)

    def find(self, name: str) -> QueueRef | None:
        self.record("find", name)
        return self.real.find(name)

    def tags(self, url: str) -> Mapping[str, str]:
        self.record("tags", url)
        return self.real.tags(url)

    def list_named(self, prefix: str) -> list[QueueRef]:
        self.record("list_named", prefix)
        return self.real.list_named(prefix)

    def send(self, url: str, body: str, delay_seconds: int = 0) -> str:
        self.record("send", url)
        return self.real.send(url, body, delay_seconds)

    def send_batch(self, url: str, bodies: Sequence[str], delay_seconds: int = 0) -> list[str]:
        self.record("send_batch", url)
        return self.real.send_batch(url, bodies, delay_seconds)


class FakeMappings(Failing):
    """A MappingPort in memory. A new mapping is Enabled at its first ``get`` unless ``stuck``."""

    prefix = "mappings"

    def __init__(self, log: list[Call]) -> None:
        super().__init__(log)
        self.mappings: dict[str, MappingInfo] = {}
        self.targets: dict[str, str] = {}
        self.stuck = False
        #: A deleted mapping stays ``Deleting`` (as AWS's can, for a while).
        self.slow_delete = False
        self.recursion_allowed: list[str] = []

    def function_timeout_s(self, function_name: str) -> int:
        self.record("function_timeout_s", function_name)
        return 30

    def create(
        self,
        function_name: str,
        queue_arn: str,
        *,
        batch_size: int,
        max_concurrency: int | None,
        enabled: bool = True,
    ) -> MappingInfo:
        self.record("create", function_name, queue_arn)
        info = MappingInfo(
            id=str(uuid.uuid4()), state="Creating", queue_arn=queue_arn, function_name=function_name
        )
        self.mappings[info.id] = info
        self.targets[info.id] = "Enabled" if enabled else "Disabled"
        return info

    def set_enabled(self, mapping_id: str, enabled: bool) -> MappingInfo:
        self.record("set_enabled", mapping_id)
        self.targets[mapping_id] = "Enabled" if enabled else "Disabled"
        info = self.mappings[mapping_id] = attrs.evolve(
            self.mappings[mapping_id], state="Enabling" if enabled else "Disabling"
        )
        return info

    def get(self, mapping_id: str) -> MappingInfo | None:
        self.record("get", mapping_id)
        info = self.mappings.get(mapping_id)
        moving = ("Creating", "Enabling", "Disabling")
        if info is not None and info.state in moving and not self.stuck:
            target = self.targets.get(mapping_id, "Enabled")
            info = self.mappings[mapping_id] = attrs.evolve(info, state=target)
        return info

    def list_for_queue(self, queue_arn: str) -> list[MappingInfo]:
        self.record("list_for_queue", queue_arn)
        return [m for m in self.mappings.values() if m.queue_arn == queue_arn]

    def delete(self, mapping_id: str) -> None:
        self.record("delete", mapping_id)
        if self.slow_delete and mapping_id in self.mappings:
            self.mappings[mapping_id] = attrs.evolve(self.mappings[mapping_id], state="Deleting")
            return
        self.mappings.pop(mapping_id, None)

    def allow_recursion(self, function_name: str) -> None:
        self.record("allow_recursion", function_name)
        self.recursion_allowed.append(function_name)


@attrs.define
class World:
    """A backend over real queues and fake mappings, the call log, and the raw SQS client."""

    backend: Backend
    queues: RecordingQueues
    mappings: FakeMappings
    log: list[Call]
    sqs: Any
    spec: QueueSpec

    def queue_urls(self) -> list[str]:
        """Every queue whose name starts with this test's queue name (queue and DLQ)."""
        urls: list[str] = self.sqs.list_queues(QueueNamePrefix=self.spec.queue_name).get(
            "QueueUrls", []
        )
        return sorted(urls)

    def calls(self, prefix: str = "") -> list[Call]:
        return [call for call in self.log if call[0].startswith(prefix)]


@pytest.fixture
def world(sqs: Any) -> Iterator[World]:
    log: list[Call] = []
    queues = RecordingQueues(SqsQueues(sqs), log)
    mappings = FakeMappings(log)
    backend = Backend(
        queues=queues,
        mappings=mappings,
        mapping_wait_s=0.05,
        mapping_poll_s=0.001,
        mapping_poll_max_s=0.001,
    )
    job_id = uuid.uuid4().hex[:12]
    spec = QueueSpec(
        job_id=job_id,
        job_type="CopyRows",
        function_name="copy-rows-worker",
        queue_name=f"t-life-{job_id}",
        visibility_timeout_s=180,
        max_receive_count=7,
    )
    world = World(backend, queues, mappings, log, sqs, spec)
    yield world
    # The moto server is shared by the whole session: leave nothing behind.
    for url in world.queue_urls():
        sqs.delete_queue(QueueUrl=url)


def packet(world: World, res: Resources | None = None, **changes: Any) -> RelayPacket:
    where = attrs.asdict(res) if res is not None else {}
    where.pop("queue_arn", None)
    return RelayPacket(
        job_id=world.spec.job_id,
        job_type=world.spec.job_type,
        function_name=world.spec.function_name,
        **where,
        **changes,
    )


def provisioned(world: World) -> Resources:
    with provision(world.backend, world.spec) as res:
        pass
    world.log.clear()
    return res


# -- provision ---------------------------------------------------------------------------------


def test_provision_creates_the_dlq_before_the_queue(world: World) -> None:
    with provision(world.backend, world.spec):
        pass

    expected = [
        ("queues.create", world.spec.queue_name + "-dlq"),
        ("queues.create", world.spec.queue_name),
    ]
    assert expected == world.calls("queues.create")


def test_provision_returns_the_queue_dlq_and_mapping_it_made(world: World) -> None:
    res = provisioned(world)

    queue = world.sqs.get_queue_url(QueueName=world.spec.queue_name)["QueueUrl"]
    dlq = world.sqs.get_queue_url(QueueName=world.spec.queue_name + "-dlq")["QueueUrl"]
    expected = (queue, dlq, [res.mapping_id])
    assert expected == (res.queue_url, res.dlq_url, list(world.mappings.mappings))


def test_provision_queue_redrives_to_the_dlq_arn_with_max_receive_count(world: World) -> None:
    res = provisioned(world)

    attributes = world.backend.queues.describe(res.queue_url)
    dlq_attributes = world.backend.queues.describe(res.dlq_url)
    assert attributes is not None
    assert dlq_attributes is not None
    expected = {"deadLetterTargetArn": dlq_attributes["QueueArn"], "maxReceiveCount": 7}
    assert expected == json.loads(attributes["RedrivePolicy"])


def test_provision_queue_has_the_specs_visibility_timeout(world: World) -> None:
    res = provisioned(world)

    attributes = world.backend.queues.describe(res.queue_url)

    assert attributes is not None
    expected = "180"
    assert expected == attributes["VisibilityTimeout"]


def test_provision_attaches_an_enabled_mapping_from_the_queue_to_the_function(
    world: World,
) -> None:
    res = provisioned(world)

    expected = MappingInfo(
        id=res.mapping_id,
        state="Enabled",
        queue_arn=res.queue_arn,
        function_name=world.spec.function_name,
    )
    assert expected == world.mappings.mappings[res.mapping_id]


def test_provision_allows_recursion_before_creating_the_mapping(world: World) -> None:
    with provision(world.backend, world.spec):
        pass

    expected = ["mappings.allow_recursion", "mappings.create"]
    assert expected == [name for name, *_ in world.calls("mappings.") if name != "mappings.get"]


def test_provision_without_allow_recursion_does_not_call_it(world: World) -> None:
    spec = attrs.evolve(world.spec, allow_recursion=False)

    with provision(world.backend, spec):
        pass

    expected: list[Call] = []
    assert expected == world.calls("mappings.allow_recursion")


def test_provision_keeps_everything_after_a_block_that_succeeds(world: World) -> None:
    res = provisioned(world)

    expected = ([res.queue_url, res.dlq_url], [res.mapping_id])
    assert expected == (
        [url for url in (res.queue_url, res.dlq_url) if url in world.queue_urls()],
        list(world.mappings.mappings),
    )


# A step of setup made to fail: arrange it on the world, return the error type to expect.
Failure = Callable[[World], type[RelayError]]


def fail_dlq_create(world: World) -> type[RelayError]:
    return type(world.queues.fail("create", 1))


def fail_queue_create(world: World) -> type[RelayError]:
    return type(world.queues.fail("create", 2))


def fail_allow_recursion(world: World) -> type[RelayError]:
    return type(world.mappings.fail("allow_recursion"))


def fail_mapping_create(world: World) -> type[RelayError]:
    return type(world.mappings.fail("create"))


def fail_mapping_wait(world: World) -> type[RelayError]:
    world.mappings.stuck = True
    return MappingTimeoutError


def fail_send_in_block(world: World) -> type[RelayError]:
    return type(world.queues.fail("send"))


FAILURES: dict[str, Failure] = {
    "dlq-create": fail_dlq_create,
    "queue-create": fail_queue_create,
    "allow-recursion": fail_allow_recursion,
    "mapping-create": fail_mapping_create,
    "mapping-wait": fail_mapping_wait,
    "send-in-block": fail_send_in_block,
}


def run_failing_setup(world: World, failure: Failure) -> tuple[type[RelayError], RelayError]:
    expected = failure(world)
    with pytest.raises(RelayError) as caught, provision(world.backend, world.spec) as res:
        send_packets(world.backend, res.queue_url, [packet(world)])
    return expected, caught.value


@pytest.mark.parametrize("step", sorted(FAILURES))
def test_failed_setup_step_leaves_no_queue(world: World, step: str) -> None:
    run_failing_setup(world, FAILURES[step])

    expected: list[str] = []
    assert expected == world.queue_urls()


@pytest.mark.parametrize("step", sorted(FAILURES))
def test_failed_setup_step_leaves_no_mapping(world: World, step: str) -> None:
    run_failing_setup(world, FAILURES[step])

    expected: dict[str, MappingInfo] = {}
    assert expected == world.mappings.mappings


@pytest.mark.parametrize("step", sorted(FAILURES))
def test_failed_setup_step_reraises_its_error_with_a_rollback_note(world: World, step: str) -> None:
    expected_type, error = run_failing_setup(world, FAILURES[step])

    expected = (expected_type, True)
    assert expected == (type(error), ROLLBACK_NOTE in getattr(error, "__notes__", []))


def test_failed_setup_reraises_the_very_error_that_stopped_it(world: World) -> None:
    injected = world.mappings.fail("create")

    with pytest.raises(RelayError) as caught, provision(world.backend, world.spec):
        pass

    assert injected is caught.value


# -- release -----------------------------------------------------------------------------------


def test_release_deletes_the_mapping_first_then_the_queue_then_the_dlq(world: World) -> None:
    res = provisioned(world)

    release(world.backend, queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id)

    expected = [
        ("queues.describe", res.queue_url),  # its ARN and the DLQ it redrives to
        ("mappings.get", res.mapping_id),  # the mapping feeds this queue: it may go
        ("mappings.delete", res.mapping_id),
        ("mappings.get", res.mapping_id),  # waited until gone before touching the queue
        ("queues.delete", res.queue_url),
        ("queues.describe", res.dlq_url),
        ("queues.delete", res.dlq_url),
    ]
    assert expected == world.log


def test_release_leaves_no_queue_and_no_mapping(world: World) -> None:
    res = provisioned(world)

    release(world.backend, queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id)

    expected: tuple[list[str], dict[str, MappingInfo]] = ([], {})
    assert expected == (world.queue_urls(), world.mappings.mappings)


def test_release_keeps_a_dlq_that_holds_dead_packets(world: World) -> None:
    res = provisioned(world)
    world.sqs.send_message(QueueUrl=res.dlq_url, MessageBody=packet(world, res).to_json())

    release(world.backend, queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id)

    expected = [res.dlq_url]
    assert expected == world.queue_urls()


def test_release_logs_a_warning_for_the_dlq_it_keeps(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    res = provisioned(world)
    world.sqs.send_message(QueueUrl=res.dlq_url, MessageBody=packet(world, res).to_json())

    with caplog.at_level(logging.WARNING, logger="relaystate"):
        release(
            world.backend, queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id
        )

    expected = [("relaystate", logging.WARNING, True)]
    assert expected == [
        (record.name, record.levelno, res.dlq_url in record.getMessage())
        for record in caplog.records
    ]


def test_release_deletes_a_nonempty_dlq_when_told_not_to_keep_it(world: World) -> None:
    res = provisioned(world)
    world.sqs.send_message(QueueUrl=res.dlq_url, MessageBody=packet(world, res).to_json())

    release(
        world.backend,
        queue_url=res.queue_url,
        dlq_url=res.dlq_url,
        mapping_id=res.mapping_id,
        keep_nonempty_dlq=False,
    )

    expected: list[str] = []
    assert expected == world.queue_urls()


def test_release_twice_is_a_no_op(world: World) -> None:
    res = provisioned(world)
    release(world.backend, queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id)

    release(world.backend, queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id)

    expected: tuple[list[str], dict[str, MappingInfo]] = ([], {})
    assert expected == (world.queue_urls(), world.mappings.mappings)


# -- names and delays --------------------------------------------------------------------------


def test_queue_name_is_the_prefix_and_the_job_id() -> None:
    expected = "relay-job-1"
    assert expected == queue_name_for("relay-", "job-1")


def test_queue_name_given_explicitly_is_used_as_it_is() -> None:
    expected = "my_queue"
    assert expected == queue_name_for("relay-", "job-1", "my_queue")


@pytest.mark.parametrize(
    ("prefix", "job_id", "queue_name"),
    [
        pytest.param("relay.", "job-1", None, id="dot-in-prefix"),
        pytest.param("relay ", "job-1", None, id="space-in-prefix"),
        pytest.param("relay/", "job-1", None, id="slash-in-prefix"),
        pytest.param("relé-", "job-1", None, id="non-ascii-prefix"),
        pytest.param("", "", None, id="empty"),
        pytest.param("relay-", "job-1", "q.fifo", id="fifo-name"),
        pytest.param("relay-", "job-1", "", id="empty-explicit-name"),
    ],
)
def test_queue_name_for_rejects_characters_sqs_refuses(
    prefix: str, job_id: str, queue_name: str | None
) -> None:
    with pytest.raises(InvalidQueueNameError):
        queue_name_for(prefix, job_id, queue_name)


def test_queue_name_of_76_characters_is_accepted() -> None:
    name = "q" * 76

    assert name == queue_name_for("relay-", "job-1", name)


def test_queue_name_of_77_characters_is_refused_to_leave_room_for_the_dlq_suffix() -> None:
    with pytest.raises(InvalidQueueNameError, match="-dlq"):
        queue_name_for("p" * 70, "job-id7")


@pytest.mark.parametrize("delay", [0, 900])
def test_check_delay_accepts_what_sqs_accepts(delay: int) -> None:
    assert delay == check_delay(delay)


@pytest.mark.parametrize("delay", [-1, 901, 1.5, True, "5"])
def test_check_delay_refuses_anything_else(delay: Any) -> None:
    with pytest.raises(InvalidDelayError):
        check_delay(delay)


# -- send_packets ------------------------------------------------------------------------------


def sqs_calls(world: World) -> list[str]:
    """A list that gets the name of every SQS send operation the real client makes from now on."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    for operation in ("SendMessage", "SendMessageBatch"):
        world.sqs.meta.events.register(f"before-call.sqs.{operation}", record)
    return calls


def shards(world: World, res: Resources, count: int) -> list[RelayPacket]:
    return [packet(world, res, shard=i, shards=count, cursor=i) for i in range(count)]


def received_cursors(world: World, url: str) -> list[int]:
    cursors: list[int] = []
    while messages := world.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        cursors += [RelayPacket.from_json(m["Body"]).cursor for m in messages]
    return sorted(cursors)


def test_send_packets_sends_one_packet_with_send_message(world: World) -> None:
    res = provisioned(world)
    calls = sqs_calls(world)

    send_packets(world.backend, res.queue_url, shards(world, res, 1))

    expected = ["SendMessage"]
    assert expected == calls


def test_send_packets_sends_25_packets_in_3_batch_calls(world: World) -> None:
    res = provisioned(world)
    calls = sqs_calls(world)

    send_packets(world.backend, res.queue_url, shards(world, res, 25))

    expected = ["SendMessageBatch"] * 3
    assert expected == calls


def test_send_packets_delivers_every_packet(world: World) -> None:
    res = provisioned(world)

    sent = send_packets(world.backend, res.queue_url, shards(world, res, 25))

    expected = (25, list(range(25)))
    assert expected == (sent, received_cursors(world, res.queue_url))


def test_oversized_packet_raises_packet_too_large_before_any_call(world: World) -> None:
    res = provisioned(world)
    calls = sqs_calls(world)
    small = packet(world, res)
    big = packet(world, res, data={"blob": "x" * 2_000})

    with pytest.raises(PacketTooLargeError) as caught:
        send_packets(world.backend, res.queue_url, [small, big], max_message_bytes=1_024)

    expected: tuple[int, int, list[str]] = (big.size_bytes(), 1_024, [])
    assert expected == (caught.value.size, caught.value.limit, calls)


# -- ensure ------------------------------------------------------------------------------------


def test_ensure_reuses_queue_and_mapping_that_exist(world: World) -> None:
    res = provisioned(world)

    again = ensure(world.backend, packet(world, res), world.spec)

    expected: tuple[Resources, list[Call]] = (res, [])
    assert expected == (again, world.calls("queues.create") + world.calls("mappings.create"))


def test_ensure_recreates_a_queue_that_is_gone(world: World) -> None:
    res = provisioned(world)
    world.sqs.delete_queue(QueueUrl=res.queue_url)

    again = ensure(world.backend, packet(world, res), world.spec)

    assert world.backend.queues.describe(again.queue_url) is not None


def test_ensure_attaches_a_new_enabled_mapping_to_a_recreated_queue(world: World) -> None:
    res = provisioned(world)
    world.sqs.delete_queue(QueueUrl=res.queue_url)

    again = ensure(world.backend, packet(world, res), world.spec)

    expected = {
        again.mapping_id: MappingInfo(
            id=again.mapping_id,
            state="Enabled",
            queue_arn=again.queue_arn,
            function_name=world.spec.function_name,
        )
    }
    assert expected == world.mappings.mappings


def test_ensure_recreates_a_mapping_that_is_gone(world: World) -> None:
    res = provisioned(world)
    world.mappings.mappings.clear()

    again = ensure(world.backend, packet(world, res), world.spec)

    expected = (res.queue_url, "Enabled", res.queue_arn)
    info = world.mappings.mappings[again.mapping_id]
    assert expected == (again.queue_url, info.state, info.queue_arn)


def test_provisioned_queues_refuse_requests_without_tls(sqs: Any) -> None:
    backend = Backend(queues=SqsQueues(sqs), mappings=MemoryMappings(), mapping_poll_s=0.0)
    spec = QueueSpec(
        job_id="tls",
        job_type="T",
        function_name="f",
        queue_name=f"tls-{uuid.uuid4().hex[:8]}",
        visibility_timeout_s=60,
    )
    with provision(backend, spec) as res:
        for url in (res.queue_url, res.dlq_url):
            policy = json.loads(
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"][
                    "Policy"
                ]
            )
            (statement,) = policy["Statement"]
            assert ("Deny", "sqs:*") == (statement["Effect"], statement["Action"])
            assert {"Bool": {"aws:SecureTransport": "false"}} == statement["Condition"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            assert arn["Attributes"]["QueueArn"] == statement["Resource"]
    release(backend, queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id)


def test_release_waits_for_a_deleting_mapping_and_then_refuses_to_touch_the_queues(
    world: World,
) -> None:
    res = provisioned(world)
    world.mappings.slow_delete = True

    with pytest.raises(MappingTimeoutError, match="still 'Deleting'"):
        release(
            world.backend, queue_url=res.queue_url, dlq_url=res.dlq_url, mapping_id=res.mapping_id
        )

    assert sorted([res.dlq_url, res.queue_url]) == world.queue_urls()


def test_release_until_deletes_the_queues_while_the_mapping_is_still_deleting(
    world: World,
) -> None:
    # In a hop: a Lambda killed while it waited would leave the queues with no mapping to
    # deliver their message again; past ``until`` they are deleted without waiting.
    res = provisioned(world)
    world.mappings.slow_delete = True

    release(
        world.backend,
        queue_url=res.queue_url,
        dlq_url=res.dlq_url,
        mapping_id=res.mapping_id,
        until=time.monotonic() + 0.01,
    )

    assert [] == world.queue_urls()
    assert "Deleting" == world.mappings.mappings[res.mapping_id].state
