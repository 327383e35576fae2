"""botocore exceptions → :mod:`relaystate.errors`, in one table.

Every boto3 call of the adapters runs inside :func:`map_aws_errors`, so a ``ClientError`` (or a
connection or credentials error) never reaches a user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from .. import errors as e

__all__ = ["ERROR_CODES", "map_aws_errors", "translate"]

#: AWS error code → the RelayError raised for it. SQS codes appear in both their JSON-protocol and
#: their legacy query-protocol spelling.
ERROR_CODES: dict[str, type[e.AwsError]] = {
    # permissions and credentials
    "AccessDenied": e.PermissionDeniedError,
    "AccessDeniedException": e.PermissionDeniedError,
    "KMS.AccessDeniedException": e.PermissionDeniedError,
    "UnrecognizedClientException": e.CredentialsError,
    "InvalidClientTokenId": e.CredentialsError,
    "ExpiredToken": e.CredentialsError,
    "ExpiredTokenException": e.CredentialsError,
    "InvalidSecurity": e.CredentialsError,
    "SignatureDoesNotMatch": e.CredentialsError,
    # missing things
    "QueueDoesNotExist": e.ResourceNotFoundError,
    "AWS.SimpleQueueService.NonExistentQueue": e.ResourceNotFoundError,
    "ResourceNotFoundException": e.ResourceNotFoundError,
    # names and conflicts
    "QueueDeletedRecently": e.QueueDeletedRecentlyError,
    "AWS.SimpleQueueService.QueueDeletedRecently": e.QueueDeletedRecentlyError,
    "QueueAlreadyExists": e.ResourceConflictError,
    "QueueNameExists": e.ResourceConflictError,
    "ResourceConflictException": e.ResourceConflictError,
    "ResourceInUseException": e.ResourceConflictError,
    # throttling
    "ThrottlingException": e.ThrottledError,
    "Throttling": e.ThrottledError,
    "TooManyRequestsException": e.ThrottledError,
    "RequestThrottled": e.ThrottledError,
    "KmsThrottled": e.ThrottledError,
    "OverLimit": e.ThrottledError,
    # refused parameters
    "InvalidParameterValueException": e.InvalidRequestError,
    "InvalidParameterValue": e.InvalidRequestError,
    "InvalidParameterCombination": e.InvalidRequestError,
    "InvalidAttributeName": e.InvalidRequestError,
    "InvalidAttributeValue": e.InvalidRequestError,
    "InvalidMessageContents": e.InvalidRequestError,
    "MissingParameter": e.InvalidRequestError,
    "ValidationException": e.InvalidRequestError,
    "UnsupportedOperation": e.InvalidRequestError,
    "AWS.SimpleQueueService.UnsupportedOperation": e.InvalidRequestError,
    "BatchEntryIdsNotDistinct": e.InvalidRequestError,
    "TooManyEntriesInBatchRequest": e.InvalidRequestError,
    "BatchRequestTooLong": e.InvalidRequestError,
    "EmptyBatchRequest": e.InvalidRequestError,
    "InvalidBatchEntryId": e.InvalidRequestError,
    # AWS's side
    "ServiceException": e.ServiceUnavailableError,
    "ServiceUnavailable": e.ServiceUnavailableError,
    "ServiceUnavailableException": e.ServiceUnavailableError,
    "InternalError": e.ServiceUnavailableError,
    "InternalFailure": e.ServiceUnavailableError,
}

# What the user should do, by error class.
_ADVICE: dict[type[e.AwsError], str] = {
    e.PermissionDeniedError: "allow {action} to the calling role (see `relaystate iam-policy`)",
    e.CredentialsError: "configure valid AWS credentials (environment, profile or role)",
    e.ResourceNotFoundError: "check the name/URL; it may have been torn down already",
    e.QueueDeletedRecentlyError: "SQS blocks a deleted queue's name for 60 s; wait, or use "
    "another name",
    e.ResourceConflictError: "the resource is busy or exists in another shape; retry later",
    e.ThrottledError: "AWS throttled the call after retries; retry later or lower concurrency",
    e.InvalidRequestError: "a parameter was refused; check the values in the message",
    e.ServiceUnavailableError: "AWS failed or could not be reached; retry later",
    e.AwsError: "see the AWS error code",
}


def _iam_action(service: str, operation: str) -> str:
    prefix = {"sqs": "sqs", "lambda": "lambda"}.get(service, service)
    return f"{prefix}:{operation}"


def translate(exc: Exception, *, service: str, operation: str) -> e.RelayError:
    """The RelayError for a botocore exception raised by ``service``'s ``operation``."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        aws_message = str(error.get("Message", ""))
        cls = ERROR_CODES.get(code, e.AwsError)
        advice = _ADVICE[cls].format(action=_iam_action(service, operation))
        return cls(
            f"{service} {operation} failed with {code}: {aws_message} -- {advice}",
            service=service,
            operation=operation,
            code=code,
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return e.CredentialsError(
            f"{service} {operation}: no AWS credentials found -- {_ADVICE[e.CredentialsError]}",
            service=service,
            operation=operation,
            code=type(exc).__name__,
        )
    if isinstance(exc, NoRegionError):
        return e.ConfigurationError(
            f"{service} {operation}: no AWS region configured -- set AWS_REGION or pass a "
            "session/region_name"
        )
    if isinstance(exc, EndpointConnectionError | ConnectionError):
        return e.ServiceUnavailableError(
            f"{service} {operation}: could not reach the endpoint ({exc}) -- "
            f"{_ADVICE[e.ServiceUnavailableError]}",
            service=service,
            operation=operation,
            code=type(exc).__name__,
        )
    return e.AwsError(
        f"{service} {operation} failed: {exc}",
        service=service,
        operation=operation,
        code=type(exc).__name__,
    )


@contextlib.contextmanager
def map_aws_errors(service: str, operation: str) -> Iterator[None]:
    """Run a boto3 call; re-raise any botocore exception as its RelayError.

    Example:
        >>> with map_aws_errors("sqs", "CreateQueue"):  # doctest: +SKIP
        ...     client.create_queue(QueueName="relay-x")
    """
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, service=service, operation=operation) from exc
