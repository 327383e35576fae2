"""relaystate: run long jobs on AWS Lambda as a relay of hops through a private SQS queue.

Example:
    >>> from relaystate import DONE, RelayJob
    >>> class CopyRows(RelayJob):
    ...     function_name = "copy-rows-worker"
    ...     def step(self, cursor):
    ...         return DONE
"""

from typing import TYPE_CHECKING, Any

from .budget import AdaptiveBudget, Budget
from .errors import (
    AwsError,
    ConfigurationError,
    CredentialsError,
    HopBusyError,
    HopLimitError,
    InvalidDelayError,
    InvalidEventError,
    InvalidPacketError,
    InvalidQueueNameError,
    InvalidRequestError,
    InvalidSignatureError,
    InvalidTransitionError,
    LeaseLostError,
    MappingTimeoutError,
    PacketTooLargeError,
    PermissionDeniedError,
    QueueDeletedRecentlyError,
    RelayError,
    ResourceConflictError,
    ResourceNotFoundError,
    SendError,
    ServiceUnavailableError,
    ThrottledError,
)
from .job import RelayJob
from .packet import RelayPacket, Stats
from .ports import Backend
from .retry import Retry
from .states import DONE, JobState

if TYPE_CHECKING:
    from .compat import get_relay_packet, relay_pass, setup, tear_down
    from .ratelimit import RateLimit
    from .signing import PacketSigner

# Imported on first use: a worker that does not use them does not pay for them at cold start.
_LAZY = {
    "get_relay_packet": "compat",
    "relay_pass": "compat",
    "setup": "compat",
    "tear_down": "compat",
    "RateLimit": "ratelimit",
    "PacketSigner": "signing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'relaystate' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"relaystate.{module}"), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "DONE",
    "AdaptiveBudget",
    "AwsError",
    "Backend",
    "Budget",
    "ConfigurationError",
    "CredentialsError",
    "HopBusyError",
    "HopLimitError",
    "InvalidDelayError",
    "InvalidEventError",
    "InvalidPacketError",
    "InvalidQueueNameError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "InvalidTransitionError",
    "JobState",
    "LeaseLostError",
    "MappingTimeoutError",
    "PacketSigner",
    "PacketTooLargeError",
    "PermissionDeniedError",
    "QueueDeletedRecentlyError",
    "RateLimit",
    "RelayError",
    "RelayJob",
    "RelayPacket",
    "ResourceConflictError",
    "ResourceNotFoundError",
    "Retry",
    "SendError",
    "ServiceUnavailableError",
    "Stats",
    "ThrottledError",
    "get_relay_packet",
    "relay_pass",
    "setup",
    "tear_down",
]
