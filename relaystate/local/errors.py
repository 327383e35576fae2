"""The errors only the local runtime raises; both are :class:`~relaystate.errors.RelayError`."""

from __future__ import annotations

from ..errors import RelayError

__all__ = ["IdleTimeoutError", "LocalLambdaClosedError"]


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
