"""S3 claim-check offload over in-memory ports: what is written, read, checked and deleted."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from relaystate import DONE, ConfigurationError, RelayJob, RelayPacket, Retry, S3Offload
from relaystate.errors import InvalidPacketError, OffloadTamperedError
from relaystate.offload import Offloader
from relaystate.signing import PacketSigner
from relaystate.testing import MemoryBackend, MemoryBlobs, UnitsPerHop, memory_backend, sqs_event

BUCKET = "relay-bucket"
BIG = "x" * 5_000  # above the tests' threshold of 1,000 bytes


class Copy(RelayJob):
    """Walks data["n"] units, two a hop; the data is big, the cursor small."""

    job_type = "test_offload.Copy"
    function_name = "copy-worker"
    offload = S3Offload(BUCKET, threshold_bytes=1_000)
    budget = UnitsPerHop.of(2)
    seen: ClassVar[list[Any]] = []

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        Copy.seen.append((cursor, len(self.data["blob"])))
        return DONE if cursor + 1 >= self.data["n"] else cursor + 1


class BigCursor(Copy):
    """Its cursor is big: a new value every unit."""

    job_type = "test_offload.BigCursor"

    def plan(self) -> dict[str, Any]:
        return {"i": 0, "pad": BIG}

    def step(self, cursor: dict[str, Any]) -> Any:
        BigCursor.seen.append(cursor["i"])
        i = cursor["i"] + 1
        return DONE if i >= self.data["n"] else {"i": i, "pad": BIG}


class Signed(Copy):
    job_type = "test_offload.Signed"
    signer = PacketSigner("k1", {"k1": b"k" * 32})


@pytest.fixture(autouse=True)
def _reset() -> None:
    Copy.seen.clear()


def blobs_of(backend: MemoryBackend) -> MemoryBlobs:
    assert backend.blobs is not None
    found = backend.blobs(BUCKET)
    assert isinstance(found, MemoryBlobs)
    return found


def hop(job_class: type[RelayJob], backend: MemoryBackend, url: str) -> list[dict[str, str]]:
    """Run the hop of the queue's next packet; the records to deliver again."""
    body = backend.queues.pop(url)
    return job_class.handle(sqs_event(body), None, backend=backend)["batchItemFailures"]


def run(job_class: type[RelayJob], backend: MemoryBackend, url: str) -> int:
    """Run hops until the queue is gone or empty; how many ran."""
    hops = 0
    while backend.queues.queues.get(url) and backend.queues.queues[url].messages:
        assert [] == hop(job_class, backend, url)
        hops += 1
    return hops


def test_data_above_the_threshold_travels_as_a_claim_check() -> None:
    backend = memory_backend()
    job = Copy(data={"n": 4, "blob": BIG}, backend=backend).start()
    assert job.packet is not None

    sent = json.loads(backend.queues.queues[job.packet.queue_url].messages[0][0])

    ref = sent["offloaded"]["data"]
    assert ({}, f"relaystate/{job.job_id}/{ref['sha256']}") == (sent["data"], ref["key"])
    assert [ref["key"]] == list(blobs_of(backend).objects)


def test_the_starters_packet_keeps_the_data_itself() -> None:
    job = Copy(data={"n": 4, "blob": BIG}, backend=memory_backend()).start()

    assert job.packet is not None
    assert (BIG, {}) == (job.packet.data["blob"], dict(job.packet.offloaded))


def test_each_hop_reads_the_data_back() -> None:
    backend = memory_backend()
    job = Copy(data={"n": 5, "blob": BIG}, backend=backend).start()
    assert job.packet is not None

    hops = run(Copy, backend, job.packet.queue_url)

    assert (3, [(i, len(BIG)) for i in range(5)]) == (hops, Copy.seen)


def test_unchanged_data_is_written_once_for_all_hops() -> None:
    backend = memory_backend()
    job = Copy(data={"n": 7, "blob": BIG}, backend=backend).start()
    assert job.packet is not None

    run(Copy, backend, job.packet.queue_url)

    puts = [call for call in blobs_of(backend).calls if call[0] == "put"]
    assert 1 == len(puts)


def test_a_large_cursor_is_written_once_per_value_and_every_one_deleted_at_teardown() -> None:
    backend = memory_backend()
    job = BigCursor(data={"n": 6, "blob": "small"}, backend=backend).start()
    assert job.packet is not None
    blobs = blobs_of(backend)

    while backend.queues.queues.get(job.packet.queue_url):
        before = set(blobs.objects)
        assert [] == hop(BigCursor, backend, job.packet.queue_url)
        written = set(blobs.objects) - before
        assert len(written) <= 1  # the next cursor, if it is a new one

    puts = [key for op, key in blobs.calls if op == "put"]
    assert (len(puts), {}) == (len(set(puts)), blobs.objects)
    assert 3 == len(puts)  # cursors 0, 2 and 4 started a hop


def test_teardown_deletes_the_jobs_objects_and_leaves_no_queue() -> None:
    backend = memory_backend()
    job = Copy(data={"n": 3, "blob": BIG}, backend=backend).start()
    assert job.packet is not None

    run(Copy, backend, job.packet.queue_url)

    assert ({}, {}) == (blobs_of(backend).objects, backend.queues.queues)


def test_a_tampered_object_is_refused_and_the_hop_not_run() -> None:
    backend = memory_backend()
    job = Copy(data={"n": 3, "blob": BIG}, backend=backend).start()
    assert job.packet is not None
    blobs = blobs_of(backend)
    (key,) = blobs.objects
    blobs.objects[key] = blobs.objects[key].replace(b"xxx", b"yyy", 1)
    body = backend.queues.queues[job.packet.queue_url].messages[0][0]

    assert Copy.offload is not None

    with pytest.raises(OffloadTamperedError, match="SHA-256") as caught:
        Offloader(Copy.offload, backend, job.job_id).load(RelayPacket.from_json(body))

    assert (key, "offloaded.data") == (caught.value.key, caught.value.field)
    assert [{"itemIdentifier": "msg-0"}] == hop(Copy, backend, job.packet.queue_url)
    assert [] == Copy.seen


def test_a_missing_object_is_refused_and_the_hop_not_run(caplog: pytest.LogCaptureFixture) -> None:
    backend = memory_backend()
    job = Copy(data={"n": 3, "blob": BIG}, backend=backend).start()
    assert job.packet is not None
    blobs_of(backend).objects.clear()

    assert [{"itemIdentifier": "msg-0"}] == hop(Copy, backend, job.packet.queue_url)

    assert [] == Copy.seen
    assert "OffloadMissingError" in caplog.text
    assert "does not exist" in caplog.text


def test_a_claim_check_of_another_jobs_object_is_not_read() -> None:
    backend = memory_backend()
    job = Copy(data={"n": 3, "blob": BIG}, backend=backend).start()
    assert job.packet is not None
    raw = json.loads(backend.queues.pop(job.packet.queue_url))
    raw["offloaded"]["data"]["key"] = "relaystate/another-job/" + "0" * 64
    assert Copy.offload is not None
    offloader = Offloader(Copy.offload, backend, job.job_id)

    with pytest.raises(InvalidPacketError, match="not under job"):
        offloader.load(RelayPacket.from_dict(raw))
    assert [] == [c for c in blobs_of(backend).calls if c[0] == "get"]


def test_the_signature_covers_the_objects_digest() -> None:
    backend = memory_backend()
    job = Signed(data={"n": 3, "blob": BIG}, backend=backend).start()
    assert job.packet is not None
    raw = json.loads(backend.queues.pop(job.packet.queue_url))
    raw["offloaded"]["data"]["sha256"] = "0" * 64
    backend.queues.send(job.packet.queue_url, json.dumps(raw))

    assert [{"itemIdentifier": "msg-0"}] == hop(Signed, backend, job.packet.queue_url)
    assert [] == Copy.seen
    assert [] == [c for c in blobs_of(backend).calls if c[0] == "get"]


def test_data_below_the_threshold_is_never_written_or_read() -> None:
    backend = memory_backend()
    job = Copy(data={"n": 3, "blob": "small"}, backend=backend).start()
    assert job.packet is not None

    run(Copy, backend, job.packet.queue_url)

    # The teardown only looks: an earlier hop may have offloaded a cursor.
    assert [("delete_prefix", f"relaystate/{job.job_id}/")] == [
        call for call in blobs_of(backend).calls if call[0] != "list"
    ]


def test_a_failed_shard_keeps_its_objects_for_the_packet_parked_in_the_dlq() -> None:
    class Failing(Copy):
        job_type = "test_offload.Failing"
        retry = Retry(attempts=1, hop_retries=0)

        def step(self, cursor: int) -> Any:
            raise RuntimeError("boom")

    backend = memory_backend()
    job = Failing(data={"n": 3, "blob": BIG}, backend=backend).start()
    assert job.packet is not None

    hop(Failing, backend, job.packet.queue_url)

    parked = json.loads(backend.queues.pop(job.packet.dlq_url))
    assert ("failed", parked["offloaded"]["data"]["key"]) == (
        parked["state"],
        next(iter(blobs_of(backend).objects)),
    )


def test_a_start_that_fails_after_writing_deletes_what_it_wrote() -> None:
    backend = memory_backend()

    def refuse(url: str, body: str, delay_seconds: int = 0) -> str:
        raise ConfigurationError("refused")

    backend.queues.send = refuse  # type: ignore[method-assign]

    with pytest.raises(ConfigurationError, match="refused"):
        Copy(data={"n": 3, "blob": BIG}, backend=backend).start()

    assert {} == blobs_of(backend).objects


def test_a_packet_that_offloaded_reaching_a_class_without_offload_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Plain(RelayJob):
        job_type = "test_offload.Copy"  # the same type, deployed without offload
        function_name = "copy-worker"

        def step(self, cursor: int) -> Any:
            return DONE

    backend = memory_backend()
    job = Copy(data={"n": 3, "blob": BIG}, backend=backend).start()
    assert job.packet is not None
    try:
        failures = hop(Plain, backend, job.packet.queue_url)
    finally:
        from relaystate import intake

        intake.register(Copy, Copy.type_name())

    assert [{"itemIdentifier": "msg-0"}] == failures
    assert "has no offload" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bucket": "Bad_Bucket"}, "not an S3 bucket name"),
        ({"bucket": "ok-bucket", "threshold_bytes": 0}, "threshold_bytes"),
        ({"bucket": "ok-bucket", "prefix": 3}, "prefix"),
    ],
)
def test_an_offload_is_checked_when_it_is_made(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        S3Offload(**kwargs)


def test_a_backend_without_blobs_cannot_start_a_job_that_offloads() -> None:
    backend = memory_backend()
    plain = MemoryBackend(
        queues=backend.queues, mappings=backend.mappings, mapping_poll_s=0.0, mapping_wait_s=1.0
    )

    with pytest.raises(ConfigurationError, match="keeps no objects"):
        Copy(data={"n": 3, "blob": BIG}, backend=plain).start()
