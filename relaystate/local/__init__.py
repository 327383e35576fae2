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

AWS's latency and eventual consistency, off by default for speed (profiles by name; objects
from ``relaystate.local.latency.Latency`` and ``relaystate.local.consistency.Consistency``):

    >>> with LocalLambda(latency="aws", consistency="aws") as lam:  # doctest: +SKIP
    ...     lam.deploy("copy-rows-worker", worker.handler)  # the module you deploy, unchanged

What a test of your own jobs needs is here; the parts behind it stay importable from their
modules (``relaystate.local.registry.MappingRegistry``, ``relaystate.local.server.sqs_client``
and ``EmbeddedSqs``, ``relaystate.local.trace.MAX_CHAIN_INVOCATIONS``...).
"""

from .errors import IdleTimeoutError, LocalLambdaClosedError
from .event import LambdaContext
from .faults import CRASH_POINTS, Faults
from .invocation import Invocation
from .runtime import LocalLambda
from .server import moto_process
from .trace import FunctionKilled

__all__ = [
    "CRASH_POINTS",
    "Faults",
    "FunctionKilled",
    "IdleTimeoutError",
    "Invocation",
    "LambdaContext",
    "LocalLambda",
    "LocalLambdaClosedError",
    "moto_process",
]
