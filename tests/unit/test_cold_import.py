"""What ``import relaystate`` loads: the Lambda path's cold start pays for every module."""

from __future__ import annotations

import subprocess
import sys

import relaystate
import relaystate.aws

_LOADED = (
    "import sys, {modules}\n"
    "print(' '.join(sorted(m for m in sys.modules if m.startswith(('relaystate', 'transitions')))))"
)


def _loaded_by(modules: str) -> list[str]:
    """The modules of relaystate and transitions that importing ``modules`` loads, fresh."""
    return subprocess.run(
        [sys.executable, "-c", _LOADED.format(modules=modules)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def test_import_leaves_out_what_the_first_hop_or_a_backend_loads() -> None:
    loaded = _loaded_by("relaystate")
    assert "relaystate.job" in loaded
    for later in (
        "relaystate.ports",  # with the backend (relaystate.aws, relaystate.testing)
        "transitions",  # with a job's machine, on its first use
        "relaystate.machine",
        "relaystate.ratelimit",  # with the features that use them
        "relaystate.signing",
        "relaystate.offload",
        "relaystate.aws",
    ):
        assert later not in loaded


def test_every_public_name_imports() -> None:
    namespace: dict[str, object] = {}
    exec("from relaystate import *", namespace)
    assert set(relaystate.__all__) <= set(namespace)


def test_a_first_hop_on_aws_leaves_out_ledger_offload_and_queue_making() -> None:
    # What a relay hop of a job without a ledger or an offload imports, on the AWS backend.
    loaded = _loaded_by(
        "relaystate, relaystate.aws, relaystate.hop, relaystate.machine, relaystate.callbacks"
    )
    assert "relaystate.pause" in loaded
    assert "relaystate.aws.sqs" in loaded
    for later in (
        "relaystate.aws.dynamodb",
        "relaystate.aws.s3",
        "relaystate.resources",
        "relaystate.job_queues",  # a resumed job's teardown, at its end only
    ):
        assert later not in loaded


def test_every_public_name_of_the_aws_adapters_imports() -> None:
    namespace: dict[str, object] = {}
    exec("from relaystate.aws import *", namespace)
    assert set(relaystate.aws.__all__) <= set(namespace)
    assert namespace["DynamoDBLedger"].__module__ == "relaystate.aws.dynamodb"  # type: ignore[attr-defined]
