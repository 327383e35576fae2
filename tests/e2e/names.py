"""The names of everything the e2e tier makes: all of them begin with ``relay-e2e-``.

One run (a pytest session) has a run id; its resources are named ``relay-e2e-<run id>...``, so
that its finalizer deletes its own and nothing of a run beside it, and the reaper
(:mod:`tests.e2e.reap`) deletes what a crashed run left, by the common prefix.

Example:
    >>> names = Names("0a1b2c3d")
    >>> names.worker, names.table, names.queue_prefix
    ('relay-e2e-0a1b2c3d-worker', 'relay-e2e-0a1b2c3d', 'relay-e2e-0a1b2c3d-')
"""

from __future__ import annotations

import re
import secrets

import attrs

__all__ = ["LOG_GROUP_PREFIX", "PREFIX", "Names", "log_group"]

#: What every name the e2e tier makes begins with; the reaper touches nothing else.
PREFIX = "relay-e2e-"
#: Where Lambda writes a function's logs.
LOG_GROUP_PREFIX = "/aws/lambda/"

_RUN_ID = re.compile(r"[0-9a-f]{8}")


def log_group(function_name: str) -> str:
    """The log group Lambda writes the function's logs to."""
    return f"{LOG_GROUP_PREFIX}{function_name}"


def _check_run_id(instance: object, attribute: object, value: str) -> None:
    # A fixed length: one run's prefix is never the beginning of another run's.
    if not _RUN_ID.fullmatch(value):
        raise ValueError(f"a run id is 8 lower-case hex digits, got {value!r}")


@attrs.frozen
class Names:
    """The names of one run's resources."""

    run_id: str = attrs.field(factory=lambda: secrets.token_hex(4), validator=_check_run_id)

    @property
    def prefix(self) -> str:
        """What all of this run's names begin with."""
        return f"{PREFIX}{self.run_id}"

    @property
    def worker(self) -> str:
        """The worker Lambda (and its execution role)."""
        return f"{self.prefix}-worker"

    @property
    def other(self) -> str:
        """A second function, whose mappings the worker's policy must not reach."""
        return f"{self.prefix}-other"

    @property
    def starter(self) -> str:
        """The role the tests assume to start jobs."""
        return f"{self.prefix}-starter"

    @property
    def table(self) -> str:
        """The progress ledger's DynamoDB table."""
        return self.prefix

    @property
    def queue_prefix(self) -> str:
        """The jobs' queue_prefix: their queues are ``<this><job id>`` (and ``-dlq``)."""
        return f"{self.prefix}-"

    @property
    def probe_queue(self) -> str:
        """A queue the deploy makes to see the worker role's SQS permissions take effect."""
        return f"{self.prefix}-probe"
