"""The errors only the local runtime raises; all are :class:`~relaystate.errors.RelayError`."""

from __future__ import annotations

from ..errors import RelayError

__all__ = ["IdleTimeoutError", "LocalLambdaClosedError", "OffMachineRequestError"]


class IdleTimeoutError(RelayError, TimeoutError):
    """``run_until_idle`` ran out of time while a mapped queue still had work.

    The message says what was still going on (invocations running, messages per queue) and
    what to try.

    Example:
        >>> from relaystate.local import LocalLambda
        >>> with LocalLambda() as lam:  # doctest: +SKIP
        ...     try:
        ...         lam.run_until_idle(timeout_s=1)
        ...     except IdleTimeoutError as exc:
        ...         print(exc)
    """


class LocalLambdaClosedError(RelayError, RuntimeError):
    """A :class:`~relaystate.local.LocalLambda` was used after ``close()``; make a new one.

    Example:
        >>> lam.close()  # doctest: +SKIP
        >>> lam.run_until_idle()  # doctest: +SKIP
        Traceback (most recent call last):
        LocalLambdaClosedError: this LocalLambda is closed; create a new one ...
    """


class OffMachineRequestError(RelayError, ConnectionRefusedError):
    """An AWS request that would have left this machine while a LocalLambda was open.

    While a :class:`~relaystate.local.LocalLambda` is open, botocore may send only to loopback
    addresses (and to the endpoint the LocalLambda was given). A client made with an explicit
    AWS endpoint or region endpoint, or made before the LocalLambda opened, is refused before
    anything is sent; the message names the request and what to do. Nothing is retried.

    Example:
        >>> with LocalLambda() as lam:  # doctest: +SKIP
        ...     boto3.client("sqs", endpoint_url="https://sqs.eu-west-1.amazonaws.com").list_queues()
        Traceback (most recent call last):
        OffMachineRequestError: LocalLambda refused POST https://sqs.eu-west-1.amazonaws.com/ ...
    """
