"""`relaystate serve` in a process of its own, driven from others (functional tier).

A starter script in a separate process starts jobs through ``AWS_ENDPOINT_URL`` with the
default backend; ``ls``, ``status``, ``cancel``, ``resume`` and ``reap`` reach the jobs with
``--endpoint-url``; a job that is not cancelled runs to the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
from click.testing import CliRunner, Result

from relaystate import RelayPacket
from relaystate.cli import cli

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

#: Runs in the starter's process: start a job with the default backend, print id and packet.
STARTER = """
import json, sys
from tests import serve_jobs
job = getattr(serve_jobs, sys.argv[1])(data=json.loads(sys.argv[2])).start()
print(json.dumps({"job_id": job.job_id, "packet": job.packet.to_json()}))
"""


@attrs.frozen
class Server:
    url: str
    process: subprocess.Popen[bytes]
    output: Path

    def text(self) -> str:
        return self.output.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        **extra,
    )
    return env


def eventually(check: Callable[[], T | None], timeout_s: float = 60.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s")
        time.sleep(0.2)


def start_server(output: Path, *targets: str) -> Server:
    port = free_port()
    with output.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from relaystate.cli import main; main(sys.argv[1:])",
                "serve",
                *targets,
                "--port",
                str(port),
                "--timeout",
                "1",
            ],
            cwd=ROOT,
            env=environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, output)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}:\n{server.text()}")
        return "Ctrl-C stops it" in server.text()

    eventually(ready, 90)
    return server


def stop_server(server: Server) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
    return server.process.wait(timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    found = start_server(tmp_path_factory.mktemp("serve") / "serve.out", "tests.serve_jobs")
    yield found
    stop_server(found)


def start(server: Server, job_class: str, data: dict[str, Any]) -> dict[str, str]:
    """Start a job from a separate process that knows only ``AWS_ENDPOINT_URL``."""
    done = subprocess.run(
        [sys.executable, "-c", STARTER, job_class, json.dumps(data)],
        cwd=ROOT,
        env=environment(AWS_ENDPOINT_URL=server.url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 0 == done.returncode, done.stderr
    started: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return started


def relaystate(server: Server, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--endpoint-url", server.url])


def jobs(server: Server) -> dict[str, dict[str, Any]]:
    result = relaystate(server, "ls", "--json")
    assert 0 == result.exit_code, result.output
    return {job["job_id"]: job for job in json.loads(result.stdout)}


def test_serve_prints_how_to_point_boto3_and_the_cli_at_it(server: Server) -> None:
    text = server.text()

    assert f"export AWS_ENDPOINT_URL={server.url}" in text
    assert "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing" in text
    assert f"relaystate ls --endpoint-url {server.url}" in text
    assert "function tally-worker: tests.serve_jobs:Tally" in text
    assert "function spread-worker: tests.serve_jobs:Spread" in text


def test_a_job_started_elsewhere_runs_to_the_end(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "tally.json"

    started = start(server, "Tally", {"to": 60, "out": str(out)})

    eventually(out.exists)
    assert {"cursor": 60} == json.loads(out.read_text())
    assert started["job_id"] not in eventually(lambda: jobs(server) or {"none": {}})


def test_a_job_that_offloads_runs_through_the_endpoints_s3(server: Server, tmp_path: Path) -> None:
    from relaystate.local.server import local_client

    s3 = local_client("s3", server.url)
    s3.create_bucket(Bucket="serve-offload")  # as `aws s3 mb` would, before the first job
    out = tmp_path / "heavy.json"

    start(server, "Heavy", {"to": 20, "out": str(out), "pad": "p" * 5_000})

    eventually(out.exists)
    assert {"cursor": 20} == json.loads(out.read_text())
    gone = eventually(lambda: "Contents" not in s3.list_objects_v2(Bucket="serve-offload"))
    assert gone


def test_ls_and_status_show_a_running_job(server: Server, tmp_path: Path) -> None:
    started = start(server, "Tally", {"to": 10**6, "unit_s": 0.05, "out": str(tmp_path / "o")})
    job_id = started["job_id"]

    listed = jobs(server)[job_id]
    status = relaystate(server, "status", job_id, "--json")

    assert ("Tally", "tally-worker") == (listed["job_type"], listed["function"])
    assert 0 == status.exit_code, status.output
    shown = json.loads(status.stdout)
    assert shown["activity"] in ("queued", "running")
    assert "Enabled" == shown["mapping_state"]
    assert 0 == relaystate(server, "cancel", job_id).exit_code


def test_cancel_stops_a_job_and_resume_runs_it_to_the_end(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "tally.json"
    started = start(server, "Tally", {"to": 40, "unit_s": 0.1, "out": str(out)})
    packet = tmp_path / "packet.json"
    packet.write_text(started["packet"])

    cancelled = relaystate(server, "cancel", started["job_id"])

    assert 0 == cancelled.exit_code, cancelled.output
    assert f"cancelled job {started['job_id']}" in cancelled.stdout
    assert 1 == relaystate(server, "status", started["job_id"]).exit_code
    assert not out.exists()

    resumed = relaystate(server, "resume", str(packet), "--job", "tests.serve_jobs:Tally")

    assert 0 == resumed.exit_code, resumed.output
    assert f"resumed job {started['job_id']} shard 0 at hop 0" in resumed.stdout
    eventually(out.exists)
    assert {"cursor": 40} == json.loads(out.read_text())


def test_reap_deletes_what_a_finished_fan_out_left(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "spread.txt"
    started = start(server, "Spread", {"out": str(out)})
    eventually(lambda: out.exists() and 2 == len(out.read_text().splitlines()))
    eventually(lambda: jobs(server).get(started["job_id"], {}).get("activity") == "idle")

    reaped = relaystate(server, "reap", "--older-than", "0s", "--settle", "0s")

    assert 0 == reaped.exit_code, reaped.output
    assert f"reaped job {started['job_id']}" in reaped.stdout
    assert started["job_id"] not in jobs(server)


def test_ctrl_c_stops_it_and_saves_what_is_left(tmp_path: Path) -> None:
    server = start_server(tmp_path / "serve.out", "tests.serve_jobs:Tally")
    try:
        started = start(server, "Tally", {"to": 10**6, "unit_s": 0.05, "out": str(tmp_path)})
    finally:
        code = stop_server(server)

    text = server.text()
    assert 0 == code, text
    assert "Traceback" not in text
    assert f"job {started['job_id']} (Tally" in text
    assert "relaystate serve tests.serve_jobs:Tally --port" in text
    assert f"--job tests.serve_jobs:Tally --endpoint-url {server.url}" in text


def test_serve_on_a_port_in_use_says_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])

    assert 1 == result.exit_code
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "--port" in result.output


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.functional.test_cli_serve", "defines no RelayJob subclass with a function_name"),
        ("tests.serve_jobs:Nope", "RelayJob classes in it: Heavy, Spread, Tally"),
    ],
)
def test_serve_of_nothing_servable_exits_2(spec: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["serve", spec])

    assert 2 == result.exit_code
    assert message in result.output


def test_resume_at_an_endpoint_without_the_worker_says_to_serve_it(
    sqs_endpoint: str, tmp_path: Path
) -> None:
    """moto alone has no such function: the error names the command that serves it."""
    packet = RelayPacket(
        job_id="9f2c",
        job_type="Tally",
        function_name="tally-worker",
        queue_url=f"{sqs_endpoint}/123456789012/relay-9f2c",
        cursor=0,
        data={"to": 1, "out": str(tmp_path / "out")},
    )
    saved = tmp_path / "packet.json"
    saved.write_text(packet.to_json())

    result = CliRunner().invoke(
        cli,
        ["resume", str(saved), "--job", "tests.serve_jobs:Tally", "--endpoint-url", sqs_endpoint],
    )

    assert 1 == result.exit_code
    text = " ".join(result.output.split())
    assert "the worker 'tally-worker' must exist where the packet is resumed" in text
    assert "`relaystate serve tests.serve_jobs:Tally`" in text
