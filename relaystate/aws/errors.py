"""botocore exceptions → :mod:`relaystate.errors`, in one table.

Every boto3 call of the adapters runs inside :func:`map_aws_errors`, so a ``ClientError`` (or a
connection or credentials error) never reaches a user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from .. import errors as e

__all__ = ["ERROR_CODES", "map_aws_errors", "translate"]

#: AWS error code → the RelayError raised for it. SQS codes appear in both their JSON-protocol and
#: their legacy query-protocol spelling: SQS speaks JSON but is "awsQueryCompatible", so botocore
#: puts the legacy code (from the ``x-amzn-query-error`` header, e.g.
#: ``AWS.SimpleQueueService.NonExistentQueue``) in ``Error.Code`` and the JSON one
#: (``QueueDoesNotExist``) in ``Error.QueryErrorCode``; :func:`translate` looks up both.
ERROR_CODES: dict[str, type[e.AwsError]] = {
    # permissions and credentials
    "AccessDenied": e.PermissionDeniedError,
    "AccessDeniedException": e.PermissionDeniedError,
    "AllAccessDisabled": e.PermissionDeniedError,  # S3
    "KMS.AccessDeniedException": e.PermissionDeniedError,
    "KmsAccessDenied": e.PermissionDeniedError,
    "UnrecognizedClientException": e.CredentialsError,
    "InvalidSignatureException": e.CredentialsError,
    "InvalidClientTokenId": e.CredentialsError,
    "ExpiredToken": e.CredentialsError,
    "ExpiredTokenException": e.CredentialsError,
    "InvalidSecurity": e.CredentialsError,
    "SignatureDoesNotMatch": e.CredentialsError,
    "InvalidAccessKeyId": e.CredentialsError,  # S3
    # missing things
    "QueueDoesNotExist": e.ResourceNotFoundError,
    "AWS.SimpleQueueService.NonExistentQueue": e.ResourceNotFoundError,
    "ResourceNotFoundException": e.ResourceNotFoundError,
    "NoSuchKey": e.ResourceNotFoundError,  # S3: an offloaded object that is gone
    "NoSuchBucket": e.ResourceNotFoundError,
    # names and conflicts
    "QueueDeletedRecently": e.QueueDeletedRecentlyError,
    "AWS.SimpleQueueService.QueueDeletedRecently": e.QueueDeletedRecentlyError,
    "QueueAlreadyExists": e.ResourceConflictError,
    "QueueNameExists": e.ResourceConflictError,
    "ResourceConflictException": e.ResourceConflictError,
    "ResourceInUseException": e.ResourceConflictError,
    "BucketAlreadyOwnedByYou": e.ResourceConflictError,
    "BucketAlreadyExists": e.ResourceConflictError,
    # throttling
    "ThrottlingException": e.ThrottledError,
    "Throttling": e.ThrottledError,
    "TooManyRequestsException": e.ThrottledError,
    "RequestThrottled": e.ThrottledError,
    "KmsThrottled": e.ThrottledError,
    "OverLimit": e.ThrottledError,
    "ProvisionedThroughputExceededException": e.ThrottledError,
    "RequestLimitExceeded": e.ThrottledError,
    "SlowDown": e.ThrottledError,  # S3
    "TransactionConflictException": e.ResourceConflictError,
    # A transaction cancelled by a concurrent write; the ledger reads its failed conditions and
    # retries its conflicts itself, so what reaches here kept conflicting.
    "TransactionCanceledException": e.ResourceConflictError,
    "TransactionInProgressException": e.ResourceConflictError,
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
    "InvalidAddress": e.InvalidRequestError,
    "BatchEntryIdsNotDistinct": e.InvalidRequestError,
    "AWS.SimpleQueueService.BatchEntryIdsNotDistinct": e.InvalidRequestError,
    "TooManyEntriesInBatchRequest": e.InvalidRequestError,
    "AWS.SimpleQueueService.TooManyEntriesInBatchRequest": e.InvalidRequestError,
    "BatchRequestTooLong": e.InvalidRequestError,
    "AWS.SimpleQueueService.BatchRequestTooLong": e.InvalidRequestError,
    "EmptyBatchRequest": e.InvalidRequestError,
    "AWS.SimpleQueueService.EmptyBatchRequest": e.InvalidRequestError,
    "InvalidBatchEntryId": e.InvalidRequestError,
    "InvalidBucketName": e.InvalidRequestError,  # S3
    "EntityTooLarge": e.InvalidRequestError,
    "KeyTooLongError": e.InvalidRequestError,
    "InvalidObjectState": e.InvalidRequestError,  # an archived object
    "AWS.SimpleQueueService.InvalidBatchEntryId": e.InvalidRequestError,
    # AWS's side
    "ServiceException": e.ServiceUnavailableError,
    "ServiceUnavailable": e.ServiceUnavailableError,
    "ServiceUnavailableException": e.ServiceUnavailableError,
    "InternalError": e.ServiceUnavailableError,
    "InternalFailure": e.ServiceUnavailableError,
    "RequestTimeout": e.ServiceUnavailableError,  # S3
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


# Where the IAM action is not ``<service>:<operation>``: SQS authorizes its batch calls with the
# single-message action (there is no ``sqs:SendMessageBatch``), and a CreateQueue that tags the
# queue also needs ``sqs:TagQueue``; S3 authorizes a listing with ``s3:ListBucket`` and a batch
# delete with ``s3:DeleteObject``.
_IAM_ACTIONS: dict[tuple[str, str], str] = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sqs", "CreateQueue"): "sqs:CreateQueue and sqs:TagQueue",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
}

_CREDENTIAL_ERRORS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    TokenRetrievalError,
    SSOError,
    ProfileNotFound,
)


def _iam_action(service: str, operation: str) -> str:
    return _IAM_ACTIONS.get((service, operation), f"{service}:{operation}")


def _error_class(error: Mapping[str, object]) -> type[e.AwsError]:
    for key in ("Code", "QueryErrorCode"):
        cls = ERROR_CODES.get(str(error.get(key, "")))
        if cls is not None:
            return cls
    return e.AwsError


def translate(exc: Exception, *, service: str, operation: str) -> e.RelayError:
    """The RelayError for a botocore exception raised by ``service``'s ``operation``."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        aws_message = str(error.get("Message", ""))
        cls = _error_class(error)
        advice = _ADVICE[cls].format(action=_iam_action(service, operation))
        return cls(
            f"{service} {operation} failed with {code}: {aws_message} -- {advice}",
            service=service,
            operation=operation,
            code=code,
        )
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return e.CredentialsError(
            f"{service} {operation}: no usable AWS credentials ({exc}) -- "
            f"{_ADVICE[e.CredentialsError]}",
            service=service,
            operation=operation,
            code=type(exc).__name__,
        )
    if isinstance(exc, NoRegionError):
        return e.ConfigurationError(
            # botocore reads AWS_DEFAULT_REGION (Lambda sets it); AWS_REGION alone is ignored.
            f"{service} {operation}: no AWS region configured -- set AWS_DEFAULT_REGION or a "
            "profile's region, or pass region_name= (or a session that has one)"
        )
    if isinstance(exc, ParamValidationError):
        return e.InvalidRequestError(
            f"{service} {operation}: botocore refused a parameter before sending: {exc}",
            service=service,
            operation=operation,
            code=type(exc).__name__,
        )
    # ConnectionError covers refused/unreachable endpoints, connect timeouts, TLS and proxy
    # failures; HTTPClientError read timeouts and connections closed mid-response.
    if isinstance(exc, ConnectionError | HTTPClientError):
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
