"""status, ls, reap, resume and cancel, on the embedded SQS endpoint and a LocalLambda.

The commands' SQS calls go to the embedded endpoint through ``--endpoint-url``; the mappings of
a LocalLambda live in this process, so the tests hand its backend to the commands as click's
``obj`` (see relaystate.cli.connect). One test runs without it: Lambda's API then comes from the
same endpoint (moto), as it would from AWS. Each test uses a queue prefix of its own: moto keeps
one store per process, and reap must never see another test's queues.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from click.testing import CliRunner, Result

from relaystate import DONE, JobState, RelayJob, Retry
from relaystate.cli import cli
from relaystate.cli import ops as ops_module
from relaystate.local import LocalLambda

pytestmark = pytest.mark.lam(timeout_s=1)


class OpsFanOut(RelayJob):
    """Two shards that finish at once: the queue and mapping stay (an orphan, until reaped)."""

    function_name = "ops-fan-out-worker"

    def plan(self) -> list[int]:
        return [0, 1]

    def step(self, cursor: Any) -> Any:
        return DONE


class OpsChain(RelayJob):
    """Three hops, one unit each."""

    function_name = "ops-chain-worker"
    hop_time_s = 0.0

    def plan(self) -> int:
        return 0

    def step(self, cursor: int) -> Any:
        return DONE if cursor >= 2 else cursor + 1


class OpsFlaky(RelayJob):
    """Fails while ``broken``, at once (no retries): its packet is parked in the DLQ."""

    function_name = "ops-flaky-worker"
    retry = Retry(attempts=1, hop_retries=0)
    broken: ClassVar[bool] = True
    done: ClassVar[list[str]] = []

    def step(self, cursor: Any) -> Any:
        if OpsFlaky.broken:
            raise RuntimeError("the database is down")
        OpsFlaky.done.append(self.job_id)
        return DONE


class OpsEndless(RelayJob):
    """Never DONE: max_hops fails it, which parks its packet in the DLQ."""

    function_name = "ops-endless-worker"
    max_hops = 1

    def step(self, cursor: Any) -> Any:
        return 0


@pytest.fixture
def lam(lam: LocalLambda) -> LocalLambda:
    """The shared LocalLambda (1-s functions) with this file's job classes deployed."""
    for job_class in (OpsFanOut, OpsChain, OpsFlaky, OpsEndless):
        lam.deploy(job_class)
    return lam


@pytest.fixture
def prefix() -> str:
    return f"relay-t{uuid.uuid4().hex[:8]}-"


class Ops:
    """Runs `relaystate COMMAND ... --endpoint-url E [--prefix P]` with the LocalLambda's."""

    def __init__(self, lam: LocalLambda, prefix: str) -> None:
        self.lam = lam
        self.prefix = prefix

    def __call__(self, *args: str, prefix: bool = True, local: bool = True) -> Result:
        extra = ["--endpoint-url", self.lam.endpoint_url]
        if prefix:
            extra += ["--prefix", self.prefix]
        obj = self.lam.backend if local else None
        return CliRunner().invoke(cli, [*args, *extra], obj=obj)

    def json(self, *args: str, **kwargs: Any) -> Any:
        result = self(*args, "--json", **kwargs)
        assert 0 == result.exit_code, result.output
        return json.loads(result.stdout)

    def start(self, job_class: type[RelayJob], **options: Any) -> RelayJob:
        return job_class(backend=self.lam.backend, queue_prefix=self.prefix, **options).start()

    def queues(self) -> list[str]:
        found = self.lam.sqs.list_queues(QueueNamePrefix=self.prefix).get("QueueUrls", [])
        return sorted(url.rsplit("/", 1)[-1] for url in found)

    def mappings(self, job: RelayJob) -> list[str]:
        return [m.id for m in self.lam.mappings if job.job_id in m.queue_arn]


@pytest.fixture
def ops(lam: LocalLambda, prefix: str) -> Ops:
    return Ops(lam, prefix)


def orphan(ops: Ops) -> RelayJob:
    """A fan-out whose shards all finished: queue, DLQ and mapping are left behind."""
    job = ops.start(OpsFanOut)
    ops.lam.run_until_idle(timeout_s=30)
    assert ops.mappings(job), "the orphan's mapping should still exist"
    return job


# -- status and ls -----------------------------------------------------------------------------


def test_status_of_a_started_job_shows_it_queued_with_its_packet_and_mapping(ops: Ops) -> None:
    job = ops.start(OpsChain)

    found = ops.json("status", job.job_id)

    assert "queued" == found["activity"]
    assert (1, 0, 0) == (found["visible"], found["in_flight"], found["delayed"])
    assert "Enabled" == found["mapping_state"]
    assert ("OpsChain", "ops-chain-worker") == (found["job_type"], found["function"])
    assert [f"{ops.prefix}{job.job_id}-dlq"] == [q["name"] for q in found["dlqs"]]


def test_status_in_text_names_the_activity_and_the_queue(ops: Ops) -> None:
    job = ops.start(OpsChain)

    result = ops("status", job.job_id)

    assert 0 == result.exit_code, result.output
    assert "queued: packets wait in the queue" in result.output
    assert f"{ops.prefix}{job.job_id}: 1 visible, 0 in flight, 0 delayed" in result.output


def test_status_by_queue_url_shows_the_same_job(ops: Ops) -> None:
    job = ops.start(OpsChain)
    assert job.packet is not None

    found = ops.json("status", job.packet.queue_url, prefix=False)

    assert job.job_id == found["job_id"]
    assert [job.packet.queue_url] == [q["url"] for q in found["queues"]]
    assert [job.packet.dlq_url] == [q["url"] for q in found["dlqs"]]


def test_status_of_a_job_whose_hop_holds_the_packet_is_running(ops: Ops) -> None:
    job = ops.start(OpsChain)
    assert job.packet is not None
    ops.lam.sqs.receive_message(QueueUrl=job.packet.queue_url, VisibilityTimeout=600)

    assert "running" == ops.json("status", job.job_id)["activity"]


def test_status_of_a_job_whose_mapping_is_gone_is_stalled(ops: Ops) -> None:
    job = ops.start(OpsChain)
    for mapping_id in ops.mappings(job):
        ops.lam.mappings.delete(mapping_id)

    assert "stalled" == ops.json("status", job.job_id)["activity"]


def test_status_of_an_unknown_job_exits_1_with_one_line(ops: Ops) -> None:
    result = ops("status", "no-such-job")

    assert 1 == result.exit_code
    assert "no relay queue of job 'no-such-job'" in result.stderr
    assert 1 == len(result.stderr.strip().splitlines())


def test_ls_lists_each_job_once(ops: Ops) -> None:
    first, second = ops.start(OpsChain), ops.start(OpsChain)

    found = ops.json("ls")

    assert sorted([first.job_id, second.job_id]) == sorted(job["job_id"] for job in found)


def test_ls_ignores_queues_without_the_job_id_tag(ops: Ops) -> None:
    ops.lam.sqs.create_queue(QueueName=f"{ops.prefix}not-a-relay")

    assert [] == ops.json("ls")


def test_ls_without_a_local_backend_reads_mappings_from_the_endpoints_lambda_api(
    ops: Ops,
) -> None:
    job = ops.start(OpsChain)

    found = ops.json("ls", local=False)

    # moto's Lambda API knows nothing of the LocalLambda's mapping: the listing says so.
    assert [(job.job_id, "none", "stalled")] == [
        (j["job_id"], j["mapping_state"], j["activity"]) for j in found
    ]


def test_ls_in_text_shows_a_table_row_per_job(ops: Ops) -> None:
    job = ops.start(OpsChain)

    result = ops("ls")

    assert 0 == result.exit_code, result.output
    assert job.job_id in result.output
    assert "queued" in result.output


def test_ls_with_no_jobs_says_so(ops: Ops) -> None:
    result = ops("ls")

    assert 0 == result.exit_code
    assert f"no relay jobs under the prefix {ops.prefix!r}" in result.output


# -- reap ------------------------------------------------------------------------------------------


def test_reap_deletes_an_orphaned_jobs_mapping_and_queues(ops: Ops) -> None:
    job = orphan(ops)

    result = ops("reap", "--older-than", "0s", "--settle", "0")

    assert 0 == result.exit_code, result.output
    assert f"reaped job {job.job_id}" in result.output
    assert [] == ops.mappings(job)
    assert [] == ops.queues()


class Recorder:
    """Delegates to a port and logs each call as ``(port.method, result)``."""

    def __init__(self, target: Any, name: str, log: list[tuple[str, Any]]) -> None:
        self.target, self.name, self.log = target, name, log

    def __getattr__(self, attr: str) -> Any:
        method = getattr(self.target, attr)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            self.log.append((f"{self.name}.{attr}", result))
            return result

        return call


def test_reap_deletes_the_mapping_and_waits_until_it_is_gone_before_the_queues(
    ops: Ops,
) -> None:
    orphan(ops)
    log: list[tuple[str, Any]] = []
    recording = attrs.evolve(
        ops.lam.backend,
        queues=Recorder(ops.lam.backend.queues, "queues", log),
        mappings=Recorder(ops.lam.backend.mappings, "mappings", log),
    )

    result = CliRunner().invoke(
        cli,
        [
            "reap",
            "--older-than",
            "0s",
            "--settle",
            "0",
            "--prefix",
            ops.prefix,
            "--endpoint-url",
            ops.lam.endpoint_url,
        ],
        obj=recording,
    )

    assert 0 == result.exit_code, result.output
    calls = [name for name, _ in log if name != "mappings.list_for_queue"]
    first_queue_delete = calls.index("queues.delete")
    assert "mappings.delete" in calls[:first_queue_delete]
    gone = [r for name, r in log[: log.index(("queues.delete", None))] if name == "mappings.get"]
    assert gone
    assert gone[-1] is None  # the last look before the queue went: the mapping is gone
    assert ["queues.delete", "queues.delete"] == calls[first_queue_delete:]


def test_reap_leaves_a_running_job_alone(ops: Ops) -> None:
    job = orphan(ops)
    assert job.packet is not None
    ops.lam.sqs.send_message(QueueUrl=job.packet.queue_url, MessageBody="{}")
    ops.lam.sqs.receive_message(QueueUrl=job.packet.queue_url, VisibilityTimeout=600)

    result = ops("reap", "--older-than", "0s", "--settle", "0")

    assert 0 == result.exit_code, result.output
    assert f"skipped job {job.job_id}: running (1 message in flight)" in result.output
    assert ops.mappings(job)
    assert 2 == len(ops.queues())


def test_reap_leaves_a_queued_job_alone(ops: Ops) -> None:
    job = ops.start(OpsChain)

    result = ops("reap", "--older-than", "0s", "--settle", "0")

    assert f"skipped job {job.job_id}: queued (1 packet waiting)" in result.output
    assert 2 == len(ops.queues())


def test_reap_leaves_a_stalled_job_alone_and_says_what_to_do(ops: Ops) -> None:
    job = ops.start(OpsChain)
    for mapping_id in ops.mappings(job):
        ops.lam.mappings.delete(mapping_id)

    result = ops("reap", "--older-than", "0s", "--settle", "0")

    assert f"skipped job {job.job_id}: stalled (1 packet waiting; resume or cancel it)" in (
        result.output
    )
    assert 2 == len(ops.queues())


def test_reap_leaves_a_job_younger_than_the_age_alone(ops: Ops) -> None:
    job = orphan(ops)

    result = ops("reap", "--older-than", "1d", "--settle", "0")

    assert f"skipped job {job.job_id}: too young" in result.output
    assert ops.mappings(job)
    assert 2 == len(ops.queues())


def test_reap_dry_run_deletes_nothing(ops: Ops) -> None:
    job = orphan(ops)

    result = ops("reap", "--older-than", "0s", "--dry-run")

    assert f"would reap job {job.job_id}; would delete mapping" in result.output
    assert ops.mappings(job)
    assert 2 == len(ops.queues())


def test_reap_looks_again_after_settling_and_spares_a_job_that_got_busy(
    ops: Ops, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = orphan(ops)
    assert job.packet is not None
    settled: list[float] = []

    def packet_arrives(seconds: float) -> None:
        settled.append(seconds)
        ops.lam.sqs.send_message(QueueUrl=job.packet.queue_url, MessageBody="{}")

    monkeypatch.setattr(ops_module, "sleep", packet_arrives)

    result = ops("reap", "--older-than", "0s", "--settle", "90s")

    assert [90.0] == settled
    assert "at the second look" in result.output
    assert ops.mappings(job)


def test_reap_keeps_a_dead_letter_queue_that_holds_packets(ops: Ops) -> None:
    job = ops.start(OpsEndless)
    ops.lam.run_until_idle(timeout_s=30)  # hop 1 of max_hops=1: failed, packet parked in the DLQ
    assert [f"{ops.prefix}{job.job_id}-dlq"] == ops.queues()

    result = ops("reap", "--older-than", "0s", "--settle", "0")

    assert (
        f"kept job {job.job_id}; kept DLQ {ops.prefix}{job.job_id}-dlq (1 packet" in result.output
    )
    assert "relaystate resume --from-dlq" in result.output
    assert [f"{ops.prefix}{job.job_id}-dlq"] == ops.queues()


def test_reap_include_dead_letters_deletes_them_too(ops: Ops) -> None:
    ops.start(OpsEndless)
    ops.lam.run_until_idle(timeout_s=30)

    result = ops("reap", "--older-than", "0s", "--settle", "0", "--include-dead-letters")

    assert 0 == result.exit_code, result.output
    assert [] == ops.queues()


def test_reap_never_touches_queues_without_the_job_id_tag(ops: Ops) -> None:
    ops.lam.sqs.create_queue(QueueName=f"{ops.prefix}not-a-relay")

    result = ops("reap", "--older-than", "0s", "--settle", "0")

    assert 0 == result.exit_code, result.output
    assert [f"{ops.prefix}not-a-relay"] == ops.queues()


@pytest.mark.parametrize("bad", ["soon", "5x", "-1", "1h-", "inf"])
def test_reap_refuses_a_malformed_duration(ops: Ops, bad: str) -> None:
    result = ops("reap", "--older-than", bad)

    assert 2 == result.exit_code
    assert "--older-than" in result.output
    assert "Traceback" not in result.output


# -- cancel ----------------------------------------------------------------------------------------


def test_cancel_deletes_mapping_and_queues_and_drops_waiting_packets(ops: Ops) -> None:
    job = ops.start(OpsChain)

    result = ops("cancel", job.job_id)

    assert 0 == result.exit_code, result.output
    assert f"cancelled job {job.job_id}" in result.output
    assert "(1 packet dropped)" in result.output
    assert [] == ops.mappings(job)
    assert [] == ops.queues()


def test_cancel_keeps_a_dead_letter_queue_with_packets(ops: Ops) -> None:
    job = ops.start(OpsChain)
    assert job.packet is not None
    ops.lam.sqs.send_message(QueueUrl=job.packet.dlq_url, MessageBody=job.packet.to_json())

    result = ops.json("cancel", job.job_id)

    assert [f"{ops.prefix}{job.job_id}-dlq"] == ops.queues()
    assert 1 == len(result["kept"])


def test_cancel_with_the_ledger_table_records_the_job_torn_down_there(ops: Ops) -> None:
    ledger = ops.lam.ledger()
    job = ops.start(OpsChain, ledger=ledger.table_name)

    result = ops.json("cancel", job.job_id, "--ledger-table", ledger.table_name)

    status = ledger.status(job.job_id)
    assert status is not None
    assert JobState.TORN_DOWN == status.state  # no longer shown running
    assert "torn down in the ledger" in result["reason"]
    assert [] == ops.queues()


def test_a_job_cancelled_with_its_ledger_table_resumed_runs_to_its_end(
    ops: Ops, tmp_path: Path
) -> None:
    ledger = ops.lam.ledger()
    job = ops.start(OpsChain, ledger=ledger.table_name)
    assert job.packet is not None
    saved = tmp_path / "packet.json"
    saved.write_text(job.packet.to_json())
    assert 0 == ops("cancel", job.job_id, "--ledger-table", ledger.table_name).exit_code

    result = ops("resume", str(saved), "--job", f"{__name__}:OpsChain", prefix=False)
    ops.lam.run_until_idle(timeout_s=30)

    assert 0 == result.exit_code, result.output
    status = ledger.status(job.job_id)
    assert status is not None
    assert (JobState.TORN_DOWN, 1) == (status.state, status.done)
    assert [] == ops.queues()


def test_cancel_without_the_ledger_table_says_the_ledger_was_not_told(ops: Ops) -> None:
    job = ops.start(OpsChain)

    result = ops("cancel", job.job_id)

    assert "--ledger-table" in result.output


def test_cancel_of_an_unknown_job_exits_1(ops: Ops) -> None:
    result = ops("cancel", "no-such-job")

    assert 1 == result.exit_code
    assert "no relay queue of job 'no-such-job'" in result.stderr


# -- resume ----------------------------------------------------------------------------------------


def test_resume_from_dlq_resumes_every_packet_and_empties_the_dlq(ops: Ops) -> None:
    OpsFlaky.broken = True
    jobs = [ops.start(OpsFlaky), ops.start(OpsFlaky)]
    ops.lam.run_until_idle(timeout_s=30)  # each shard FAILED: its packet parked in the DLQ
    dlqs = [job.packet.dlq_url for job in jobs if job.packet]
    assert [1, 1] == [
        int(
            ops.lam.sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        for u in dlqs
    ]
    OpsFlaky.broken = False
    OpsFlaky.done.clear()

    results = [ops.json("resume", "--from-dlq", url, prefix=False) for url in dlqs]
    ops.lam.run_until_idle(timeout_s=30)

    assert [[job.job_id] for job in jobs] == [
        [r["job_id"] for r in res["resumed"]] for res in results
    ]
    assert sorted(job.job_id for job in jobs) == sorted(OpsFlaky.done)
    assert [] == ops.queues()  # finished: mapping, queue and the emptied DLQ torn down


def test_resume_from_dlq_keeps_a_packet_it_cannot_resume(ops: Ops) -> None:
    job = ops.start(OpsChain)
    assert job.packet is not None
    ops.lam.sqs.send_message(QueueUrl=job.packet.dlq_url, MessageBody="not a packet")

    result = ops("resume", "--from-dlq", job.packet.dlq_url, prefix=False)

    assert 1 == result.exit_code
    assert "not resumed" in result.output
    assert "1 packet of 1 not resumed (they stay in the DLQ)" in result.stderr
    attributes = ops.lam.sqs.get_queue_attributes(
        QueueUrl=job.packet.dlq_url, AttributeNames=["All"]
    )["Attributes"]
    assert "1" == attributes["ApproximateNumberOfMessages"]  # visible again, for a later try


def test_resume_from_an_empty_dlq_says_so(ops: Ops) -> None:
    job = ops.start(OpsChain)
    assert job.packet is not None

    result = ops("resume", "--from-dlq", job.packet.dlq_url, prefix=False)

    assert 0 == result.exit_code, result.output
    assert f"no packets in {job.packet.dlq_url}" in result.output


def test_resume_a_saved_packet_after_cancel_runs_the_job_to_the_end(
    ops: Ops, tmp_path: Path
) -> None:
    job = ops.start(OpsChain)
    assert job.packet is not None
    saved = tmp_path / "packet.json"
    saved.write_text(job.packet.to_json())
    assert 0 == ops("cancel", job.job_id).exit_code

    result = ops("resume", str(saved), "--job", f"{__name__}:OpsChain", prefix=False)
    ops.lam.run_until_idle(timeout_s=30)

    assert 0 == result.exit_code, result.output
    assert f"resumed job {job.job_id} shard 0 at hop 0" in result.output
    assert [] == ops.queues()
    assert [] == ops.mappings(job)


def test_resume_finds_the_class_by_job_type_after_import(ops: Ops, tmp_path: Path) -> None:
    job = ops.start(OpsChain)
    assert job.packet is not None
    saved = tmp_path / "packet.json"
    saved.write_text(job.packet.to_json())

    result = ops("resume", str(saved), "--import", __name__, "--json", prefix=False)

    assert 0 == result.exit_code, result.output
    assert [job.job_id] == [r["job_id"] for r in json.loads(result.stdout)["resumed"]]


def test_resume_of_an_unknown_job_type_says_to_import_it(ops: Ops, tmp_path: Path) -> None:
    job = ops.start(OpsChain)
    assert job.packet is not None
    saved = tmp_path / "packet.json"
    saved.write_text(job.packet.evolve(job_type="NoSuchJobType").to_json())

    result = ops("resume", str(saved), prefix=False)

    assert 1 == result.exit_code
    assert "no job class for job type 'NoSuchJobType' is imported: pass --import" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give either PACKET_FILE or --from-dlq"),
        (["x.json", "--from-dlq", "http://q"], "give either PACKET_FILE or --from-dlq"),
        (["missing.json"], "cannot read 'missing.json'"),
        (["x.json", "--job", "examples.fan_out"], "expected MODULE:JobClass"),
        (["x.json", "--import", "no_such_module_x"], "no module named 'no_such_module_x'"),
    ],
)
def test_resume_bad_arguments_exit_2(ops: Ops, args: list[str], message: str) -> None:
    result = ops("resume", *args, prefix=False)

    assert 2 == result.exit_code
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_missing_profile_is_one_line_that_says_what_to_do(ops: Ops) -> None:
    result = CliRunner().invoke(cli, ["ls", "--profile", "no-such-profile"])

    assert 1 == result.exit_code
    assert "CredentialsError" in result.stderr
    assert "configure valid AWS credentials" in result.stderr
    assert 1 == len(result.stderr.strip().splitlines())


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])

    assert 0 == result.exit_code
    listed = result.output.split("Commands:", 1)[1].split()
    for command in ("demo", "run", "status", "ls", "reap", "resume", "cancel", "diagram"):
        assert command in listed
    assert "iam-policy" in listed


def test_status_from_the_ledger_names_every_shard(lam: LocalLambda, ops: Ops) -> None:
    table = lam.ledger(f"cli-ledger-{uuid.uuid4().hex[:8]}").table_name
    job = OpsFanOut(backend=lam.backend, ledger=table).start()
    lam.run_until_idle(timeout_s=30)

    shown = ops.json("status", job.job_id, "--ledger-table", table, prefix=False)

    assert ("torn_down", 2, 2) == (shown["state"], shown["shards"], shown["done"])
    assert [0, 1] == [s["shard"] for s in shown["shard_status"]]
    text = ops("status", job.job_id, "--ledger-table", table, prefix=False)
    assert 0 == text.exit_code, text.output
    assert "2 done, 0 failed" in text.output


def test_status_of_a_job_the_ledger_does_not_know_says_so(lam: LocalLambda, ops: Ops) -> None:
    table = lam.ledger(f"cli-ledger-{uuid.uuid4().hex[:8]}").table_name
    result = ops("status", "no-such-job", "--ledger-table", table, prefix=False)
    assert 1 == result.exit_code
    assert "does not know job 'no-such-job'" in result.output
