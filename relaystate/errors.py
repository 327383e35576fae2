"""Every error relaystate raises: one root, :class:`RelayError`.

The tree::

    RelayError
    ├── ConfigurationError (ValueError)      the job or a call is set up wrong; fix the code
    │   ├── InvalidQueueNameError            queue name or prefix not [A-Za-z0-9_-], too long
    │   ├── InvalidDelayError                DelaySeconds outside 0..900
    │   └── JobEndedError                    resume() of a job whose every shard has ended
    ├── InvalidEventError (ValueError)       handle() got something that is not an SQS event
    ├── InvalidPacketError (ValueError)      a message that is not a valid relay packet
    │   ├── InvalidSignatureError            a signed job got an unsigned or forged packet
    │   ├── VersionMismatchError             a packet of another version of the job's class
    │   └── OffloadError                     an offloaded data or cursor object cannot be used
    │       ├── OffloadMissingError          the object is gone (deleted, or never written)
    │       └── OffloadTamperedError         the object's SHA-256 is not the packet's
    ├── PacketTooLargeError (ValueError)     the packet's message would exceed the queue's maximum
    ├── InvalidTransitionError               a trigger fired from a state that does not allow it
    ├── JobConflictError                     the job id or queue name is taken by another job
    ├── UnknownJobError (LookupError)        attach(): no job of that id
    ├── SignalConflictError                  a job's signal was sent before with another payload
    ├── HopLimitError                        the job went past max_hops
    ├── HopBusyError                         a duplicate delivery of a hop that runs elsewhere
    ├── JobBusyError                         another pause() or unpause() of the job is running
    ├── LeaseLostError                       another invocation took this hop over (ledger)
    ├── MappingTimeoutError (TimeoutError)   a mapping did not reach the state waited for in time
    ├── SendError                            some packets of a batch could not be sent
    └── AwsError                             an AWS call failed; .code, .operation, .service
        ├── PermissionDeniedError            missing IAM permission (named in the message)
        ├── CredentialsError                 no credentials, or they are invalid/expired
        ├── ResourceNotFoundError            queue or mapping or function does not exist
        ├── QueueDeletedRecentlyError        a queue name reused within 60 s of its deletion
        ├── ResourceConflictError            the resource is busy (e.g. mapping being created)
        ├── ThrottledError                   AWS throttled the call after botocore's retries
        ├── InvalidRequestError (ValueError) AWS refused a parameter
        └── ServiceUnavailableError          AWS failed or could not be reached

``botocore`` exceptions never escape: :mod:`relaystate.aws.errors` maps them here, in one table.
"""

from __future__ import annotations

__all__ = [
    "AwsError",
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
    "JobBusyError",
    "JobConflictError",
    "JobEndedError",
    "LeaseLostError",
    "MappingTimeoutError",
    "OffloadError",
    "OffloadMissingError",
    "OffloadTamperedError",
    "PacketTooLargeError",
    "PermissionDeniedError",
    "QueueDeletedRecentlyError",
    "RelayError",
    "ResourceConflictError",
    "ResourceNotFoundError",
    "SendError",
    "ServiceUnavailableError",
    "SignalConflictError",
    "ThrottledError",
    "UnknownJobError",
    "VersionMismatchError",
]


class RelayError(Exception):
    """The root of every error relaystate raises.

    Example:
        >>> try:
        ...     raise InvalidDelayError("DelaySeconds must be 0..900, got 901")
        ... except RelayError as exc:
        ...     print(type(exc).__name__)
        InvalidDelayError
    """


class ConfigurationError(RelayError, ValueError):
    """The job or the call is configured wrong; the message says what to change."""


class InvalidQueueNameError(ConfigurationError):
    """A queue name or prefix is not 1-80 characters of ``[A-Za-z0-9_-]``."""


class InvalidDelayError(ConfigurationError):
    """A ``DelaySeconds`` value outside 0..900 (what SQS accepts per message)."""


class JobEndedError(ConfigurationError):
    """``resume()`` of a job that has ended: the ledger records every one of its shards done
    or failed and its teardown taken, so nothing is left to run. Nothing was made or sent.

    A job cancelled (``tear_down()``) while shards were still at work is not ended: its resume
    reopens it in the ledger. A failed shard is resumed from its parked (``failed``) packet,
    which reopens the shard. ``job_id`` is the job's id.

    Example:
        >>> str(JobEndedError("import-7"))  # doctest: +ELLIPSIS
        'every shard of job import-7 has ended and the job was torn down: nothing is left to...'
    """

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"every shard of job {job_id} has ended and the job was torn down: nothing is left "
            "to resume (a failed shard is resumed from its packet in the dead-letter queue): "
            "delete it and run `relaystate reap` for anything the job left; start a new job to "
            "run it again"
        )
        self.job_id = job_id


class InvalidEventError(RelayError, ValueError):
    """``handle()`` was given something that is not the SQS event of a mapping."""


class InvalidPacketError(RelayError, ValueError):
    """A message body that is not a valid relay packet.

    ``field`` names the field at fault (a dotted path such as ``"stats.hops"``), or is ``None``
    when the body is not a JSON object at all.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class VersionMismatchError(InvalidPacketError):
    """A packet made by another version of its job class, which ``migrate`` did not take.

    It is not run: SQS delivers it again and then parks it in the job's DLQ, from where
    ``resume`` takes it up once a worker can run it.
    """


class InvalidSignatureError(InvalidPacketError):
    """A packet without a valid signature reached a job that requires one. It is never run."""


class OffloadError(InvalidPacketError):
    """A packet's offloaded data or cursor (:class:`~relaystate.S3Offload`) cannot be used:
    the hop is not run. It is reported as a batch item failure, so SQS delivers the packet
    again and, in the end, parks it in the job's DLQ. ``key`` names the object."""

    def __init__(self, message: str, *, field: str | None = None, key: str = "") -> None:
        super().__init__(message, field=field)
        self.key = key


class OffloadMissingError(OffloadError):
    """The object a packet names is not in the bucket (deleted, or never written)."""


class OffloadTamperedError(OffloadError):
    """The object a packet names is not what was written: its SHA-256 differs from the one
    the packet carries (and its signature covers, when the job signs)."""


class PacketTooLargeError(RelayError, ValueError):
    """The packet's message would exceed the queue's maximum message size.

    Raised before any AWS call, with both sizes: ``size`` and ``limit`` in bytes.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"relay packet is {size:,} bytes but the queue accepts at most {limit:,} bytes; "
            "keep bulky data out of the packet (store it in S3 or a database and put its key "
            "in the cursor or data), or raise max_message_bytes if the queue's "
            "MaximumMessageSize allows more"
        )
        self.size = size
        self.limit = limit


class InvalidTransitionError(RelayError):
    """A trigger was fired from a state that does not allow it.

    ``trigger`` is the trigger's name and ``state`` the job's state when it was fired.
    """

    def __init__(self, trigger: str, state: str, allowed: tuple[str, ...]) -> None:
        where = ", ".join(allowed) if allowed else "no state"
        super().__init__(
            f"cannot {trigger!r} a job that is {state!r}: {trigger!r} is allowed from {where}"
        )
        self.trigger = trigger
        self.state = state
        self.allowed = allowed


class JobConflictError(RelayError):
    """``start()`` found the job's id or queue name taken by another job (other data, another
    class, a job that has ended, or resources left over), and touched nothing of it.

    A start with the same id, class and data as a job that runs is not a conflict: it returns
    that job, as Step Functions' StartExecution does for the same name and input.
    """


class UnknownJobError(RelayError, LookupError):
    """``attach()`` found no job of that id: not in the ledger, and no queue of its name."""


class SignalConflictError(RelayError):
    """A signal was sent to a job with another payload than the one recorded for its name.

    A job's signal is recorded once: the first payload stands, and the same payload sent again
    is accepted (a retry). ``name`` is the signal's name.

    Example:
        >>> str(SignalConflictError("approved"))
        "signal 'approved' was sent to this job before with another payload; the first one stands"
    """

    def __init__(self, name: str, job_id: str = "") -> None:
        where = f"job {job_id}" if job_id else "this job"
        super().__init__(
            f"signal {name!r} was sent to {where} before with another payload; the first one stands"
        )
        self.name = name
        self.job_id = job_id


class HopLimitError(RelayError):
    """The job reached ``max_hops`` without finishing; it was failed instead of looping on."""


class HopBusyError(RelayError):
    """With a ledger: this hop runs in another invocation now (a duplicate delivery).

    The message is left for redelivery; by then the other invocation has finished the hop and
    the duplicate is acknowledged.
    """


class JobBusyError(RelayError):
    """With a ledger: another ``pause()`` or ``unpause()`` of the job held its control for
    longer than this one waited for it, or took it over; this one stopped.

    Pauses and unpauses of one job run one at a time (:mod:`relaystate.control_lease`): a call
    waits for the one that runs, and raises this only when that one runs on past the wait.
    ``job_id`` is the job's id.
    """

    def __init__(self, message: str, job_id: str = "") -> None:
        super().__init__(message)
        self.job_id = job_id


class LeaseLostError(RelayError):
    """Another invocation took this hop over (its ledger lease had expired); this one stops."""


class MappingTimeoutError(RelayError, TimeoutError):
    """An event-source mapping did not reach the state waited for within the time allowed."""


class SendError(RelayError):
    """Some entries of a ``SendMessageBatch`` still failed after retries.

    ``failed`` holds ``(entry id, code, message)`` for each packet that was not sent.
    """

    def __init__(self, message: str, failed: tuple[tuple[str, str, str], ...]) -> None:
        super().__init__(message)
        self.failed = failed


class AwsError(RelayError):
    """An AWS call failed. ``service``, ``operation`` and ``code`` say which and why."""

    def __init__(self, message: str, *, service: str = "", operation: str = "", code: str = ""):
        super().__init__(message)
        self.service = service
        self.operation = operation
        self.code = code


class PermissionDeniedError(AwsError):
    """The caller lacks an IAM permission; the message names the action to allow."""


class CredentialsError(AwsError):
    """No AWS credentials were found, or AWS rejected them."""


class ResourceNotFoundError(AwsError):
    """The queue, mapping or function named does not exist (or no longer does)."""


class QueueDeletedRecentlyError(AwsError):
    """A queue name was reused less than 60 s after its queue was deleted."""


class ResourceConflictError(AwsError):
    """The resource is busy or already exists in another shape."""


class ThrottledError(AwsError):
    """AWS throttled the call and botocore's retries did not get through."""


class InvalidRequestError(AwsError, ValueError):
    """AWS refused a parameter of the call."""


class ServiceUnavailableError(AwsError):
    """AWS failed internally or could not be reached."""
