"""relaystate: run long jobs on AWS Lambda as a relay of hops through a private SQS queue.

What a job author needs is here; the rest stays importable from its module:
:mod:`relaystate.errors` (every error), :mod:`relaystate.budget` (hop budgets),
:mod:`relaystate.ports` (the backend protocols), :mod:`relaystate.aws` (the boto3 adapters),
:mod:`relaystate.compat` (the npm helper's four verbs), :mod:`relaystate.local` (the local
Lambda runtime) and :mod:`relaystate.testing` (in-memory twins for unit tests).

Example:
    >>> from relaystate import DONE, RelayJob
    >>> class CopyRows(RelayJob):
    ...     function_name = "copy-rows-worker"
    ...     def step(self, cursor):
    ...         return DONE
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    AwsError,
    ConfigurationError,
    InvalidPacketError,
    InvalidTransitionError,
    PacketTooLargeError,
    RelayError,
)
from .job import RelayJob
from .lazy import loader
from .packet import RelayPacket, Stats
from .retry import Retry
from .signals import WaitFor
from .sleep import Sleep
from .states import DONE, JobState

if TYPE_CHECKING:
    from .offload import S3Offload
    from .ratelimit import RateLimit
    from .signing import PacketSigner

# Imported on first use: a worker that does not use them does not pay for them at cold start.
_LAZY = {"RateLimit": "ratelimit", "PacketSigner": "signing", "S3Offload": "offload"}


_load = loader(__name__, _LAZY, globals())


def __getattr__(name: str) -> Any:
    if name != "__version__":
        return _load(name)
    from importlib.metadata import version  # read from the installed package's metadata, once

    value = globals()[name] = version("relaystate")
    return value


__all__ = [
    "DONE",
    "AwsError",
    "ConfigurationError",
    "InvalidPacketError",
    "InvalidTransitionError",
    "JobState",
    "PacketSigner",
    "PacketTooLargeError",
    "RateLimit",
    "RelayError",
    "RelayJob",
    "RelayPacket",
    "Retry",
    "S3Offload",
    "Sleep",
    "Stats",
    "WaitFor",
]
