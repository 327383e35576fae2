"""Names of a job's AWS resources: the rules SQS sets for queue names, and reading them back.

Example:
    >>> queue_name_for("relay-", "9f2c")
    'relay-9f2c'
    >>> queue_name_of("https://sqs.us-east-1.amazonaws.com/123456789012/relay-9f2c")
    'relay-9f2c'
    >>> queue_name_of("arn:aws:sqs:us-east-1:123456789012:relay-9f2c")
    'relay-9f2c'
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from .errors import InvalidQueueNameError

__all__ = [
    "DLQ_SUFFIX",
    "MAX_QUEUE_NAME",
    "TAG_PREFIX",
    "dlq_name",
    "fresh_queue_name",
    "job_name_prefix",
    "partition_of",
    "queue_arn_of",
    "queue_name_for",
    "queue_name_of",
    "same_queue",
]

#: SQS's longest queue name.
MAX_QUEUE_NAME = 80
#: What a job's dead-letter queue adds to its queue's name.
DLQ_SUFFIX = "-dlq"
#: The prefix of the tags relaystate puts on what it creates.
TAG_PREFIX = "relaystate:"
_NAME = re.compile(r"[A-Za-z0-9_-]+")
#: What a resume adds to a job's name (:func:`fresh_queue_name`): its length.
_FRESH_SUFFIX = "-123abc"


def queue_name_for(prefix: str, job_id: str, queue_name: str | None = None) -> str:
    """The job's queue name (``prefix + job_id`` unless given), checked against SQS's rules.

    The DLQ is named ``<name>-dlq``, so the name may have at most 76 characters.

    Raises:
        InvalidQueueNameError: the name has other characters than ``[A-Za-z0-9_-]``, is empty,
            or is too long.
    """
    name = queue_name if queue_name is not None else f"{prefix}{job_id}"
    limit = MAX_QUEUE_NAME - len(DLQ_SUFFIX)
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > limit:
        raise InvalidQueueNameError(
            f"queue name {name!r} is not valid: use 1-{limit} characters of A-Z, a-z, 0-9, "
            f"'-' and '_' (SQS allows {MAX_QUEUE_NAME}; relaystate adds '{DLQ_SUFFIX}' for "
            "the dead-letter queue)"
        )
    return name


def fresh_queue_name(prefix: str, job_id: str) -> str:
    """A new queue name for a job that already had one (``resume``): prefix + job id + a
    random suffix, the job id shortened where the whole would pass SQS's limit (the queue's tags
    carry the whole id).

    Example:
        >>> len(fresh_queue_name("relay-", "j" * 70))
        76
    """
    return queue_name_for("", job_name_prefix(prefix, job_id) + f"-{secrets.token_hex(3)}")


def job_name_prefix(prefix: str, job_id: str) -> str:
    """What the name of every queue of the job begins with -- its first queue's (unless a
    ``queue_name`` was given), a resume's (:func:`fresh_queue_name`) and their DLQs': prefix +
    job id, shortened to leave room for a resume's suffix and ``-dlq``.

    Example:
        >>> job_name_prefix("relay-", "9f2c")
        'relay-9f2c'
    """
    return f"{prefix}{job_id}"[: MAX_QUEUE_NAME - len(DLQ_SUFFIX) - len(_FRESH_SUFFIX)]


def queue_arn_of(url: str, region: str) -> str:
    """The ARN of the queue at ``url`` (``https://.../ACCOUNT/NAME``) in ``region``.

    Example:
        >>> queue_arn_of("https://sqs.eu-west-1.amazonaws.com/123456789012/relay-1", "eu-west-1")
        'arn:aws:sqs:eu-west-1:123456789012:relay-1'
        >>> queue_arn_of("https://sqs.cn-north-1.amazonaws.com.cn/1/q", "cn-north-1")
        'arn:aws-cn:sqs:cn-north-1:1:q'
    """
    account, name = _account_and_name(url)
    return f"arn:{partition_of(region)}:sqs:{region}:{account}:{name}"


def partition_of(region: str) -> str:
    """The AWS partition of a region: ``aws``, ``aws-cn`` or ``aws-us-gov``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def same_queue(url: str, arn: str) -> bool:
    """Whether the queue at ``url`` is the queue ``arn``: same account and name, and same
    region where the URL names one (``sqs.REGION.amazonaws.com``; a local endpoint does not).

    Example:
        >>> same_queue("https://sqs.us-east-1.amazonaws.com/1/q", "arn:aws:sqs:us-east-1:1:q")
        True
        >>> same_queue("https://sqs.us-east-1.amazonaws.com/2/q", "arn:aws:sqs:us-east-1:1:q")
        False
    """
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        return False
    account, name = _account_and_name(url)
    host = urlsplit(url).hostname or ""
    region = host.split(".")[1] if host.startswith("sqs.") and host.count(".") >= 3 else ""
    return (account, name) == (parts[4], parts[5]) and region in ("", parts[3])


def _account_and_name(url: str) -> tuple[str, str]:
    path = [p for p in urlsplit(url).path.split("/") if p]
    if len(path) < 2:
        return "", queue_name_of(url)
    return path[-2], path[-1]


def dlq_name(queue_name: str) -> str:
    """The name of the dead-letter queue of the queue ``queue_name``."""
    return queue_name + DLQ_SUFFIX


def queue_name_of(url_or_arn: str) -> str:
    """The queue's name, from its URL (``https://.../ACCOUNT/NAME``) or ARN (``arn:...:NAME``).

    An empty string gives an empty name.
    """
    text = url_or_arn.strip()
    if text.startswith("arn:"):
        return text.rsplit(":", 1)[-1]
    return text.rstrip("/").rsplit("/", 1)[-1]
