"""Run relay jobs on this machine: SQS for real (moto on 127.0.0.1), the Lambda service emulated.

Example:
    >>> from relaystate.local import LocalLambda
    >>> with LocalLambda(timeout_s=2.0) as lam:  # doctest: +SKIP
    ...     lam.deploy(CopyRows)
    ...     CopyRows(data={"table": "users"}, backend=lam.backend).start()
    ...     lam.run_until_idle(timeout_s=120)

Under injected faults (duplicate deliveries, crashed invocations, throttled calls):

    >>> from relaystate.local import Faults
    >>> faults = Faults(duplicate_rate=0.3, crash_rate=0.1, throttle_rate=0.05, seed=1)
    >>> with LocalLambda(faults=faults) as lam:  # doctest: +SKIP
    ...     lam.deploy(CopyRows)
    ...     CopyRows(data={}, backend=lam.backend, ledger="ledger").start()
    ...     lam.run_until_idle(timeout_s=120)
    ...     print(lam.faults_injected)
"""

from .errors import IdleTimeoutError, LocalLambdaClosedError
from .event import LambdaContext
from .faults import ALL_CRASH_POINTS, CRASH_POINTS, CrashPoint, Faults
from .handler import InvocationOutcome
from .invocation import Invocation
from .registry import Handler, LocalFunction, LocalMapping, MappingRegistry
from .runtime import LocalLambda
from .server import EmbeddedSqs, moto_process, sqs_client
from .trace import MAX_CHAIN_INVOCATIONS, FunctionKilled

__all__ = [
    "ALL_CRASH_POINTS",
    "CRASH_POINTS",
    "MAX_CHAIN_INVOCATIONS",
    "CrashPoint",
    "EmbeddedSqs",
    "Faults",
    "FunctionKilled",
    "Handler",
    "IdleTimeoutError",
    "Invocation",
    "InvocationOutcome",
    "LambdaContext",
    "LocalFunction",
    "LocalLambda",
    "LocalLambdaClosedError",
    "LocalMapping",
    "MappingRegistry",
    "moto_process",
    "sqs_client",
]
