"""relaystate: run long jobs on AWS Lambda as a relay of hops through a private SQS queue.

Example:
    >>> from relaystate import DONE, RelayJob
    >>> class CopyRows(RelayJob):
    ...     function_name = "copy-rows-worker"
    ...     def step(self, cursor):
    ...         return DONE
"""

from .budget import AdaptiveBudget, Budget
from .compat import get_relay_packet, relay_pass, setup, tear_down
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
    InvalidTransitionError,
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
from .ratelimit import RateLimit
from .retry import Retry
from .signing import InvalidSignatureError, PacketSigner
from .states import DONE, JobState

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
