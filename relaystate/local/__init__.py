"""Run relay jobs on this machine: SQS for real (moto on 127.0.0.1), the Lambda service emulated.

Example:
    >>> from relaystate.local import LocalLambda
    >>> with LocalLambda(timeout_s=2.0) as lam:  # doctest: +SKIP
    ...     lam.deploy(CopyRows)
    ...     CopyRows(data={"table": "users"}, backend=lam.backend).start()
    ...     lam.run_until_idle(timeout_s=120)
"""

from .errors import IdleTimeoutError, LocalLambdaClosedError
from .event import LambdaContext
from .invoke import Outcome
from .registry import Handler, LocalFunction, LocalMapping, MappingRegistry
from .runtime import Invocation, LocalLambda
from .server import EmbeddedSqs, sqs_client
from .trace import MAX_CHAIN_INVOCATIONS, FunctionKilled

__all__ = [
    "MAX_CHAIN_INVOCATIONS",
    "EmbeddedSqs",
    "FunctionKilled",
    "Handler",
    "IdleTimeoutError",
    "Invocation",
    "LambdaContext",
    "LocalFunction",
    "LocalLambda",
    "LocalLambdaClosedError",
    "LocalMapping",
    "MappingRegistry",
    "Outcome",
    "sqs_client",
]
