"""AWS's latency for LocalLambda: each call of the job waits as long as it would on AWS.

moto answers in about a millisecond, so a hop that leaves 100 ms for a teardown of five calls
passes here and dies on AWS. With ``LocalLambda(latency="aws")`` every call of the job -- SQS
through ``lam.backend``, DynamoDB through a ``lam.ledger()``, the Lambda API of the mapping
registry -- first waits a time drawn for its operation, from a log-normal distribution through
the operation's median (p50) and 99th percentile (p99). The emulated Lambda service's own
polling is not delayed (on AWS it is not the job's time either).

The ``"aws"`` profile (:meth:`Latency.aws`), in ms, for a Lambda and the services in one
region::

    operation                                 p50    p99   source
    sqs SendMessage                            15     75   [1] [2]
    sqs SendMessageBatch                       20    100   [1] [2]
    sqs ReceiveMessage, DeleteMessage,         12     60   [1] [2]
        ChangeMessageVisibility
    sqs DeleteMessageBatch,                    15     75   [1] [2]
        ChangeMessageVisibilityBatch
    sqs GetQueueAttributes, GetQueueUrl        10     50   estimate
    sqs CreateQueue                            60    300   estimate
    sqs DeleteQueue                            40    200   estimate
    sqs SetQueueAttributes, TagQueue, other    30    150   estimate
    dynamodb GetItem                            4     15   [3]
    dynamodb PutItem, DeleteItem                6     20   [3]
    dynamodb UpdateItem                         7     25   [3]
    dynamodb Query                              8     30   [3]
    dynamodb TransactWriteItems                15     60   [3] [4]
    dynamodb TransactGetItems                  10     40   [3] [4]
    dynamodb DescribeTable, other               7     25   [3]
    dynamodb CreateTable                      150    600   estimate
    lambda CreateEventSourceMapping           150    600   estimate
    lambda DeleteEventSourceMapping           100    400   estimate
    lambda PutFunctionRecursionConfig          80    300   estimate
    lambda ListEventSourceMappings, other      60    250   estimate
    lambda GetEventSourceMapping,              40    150   estimate
        GetFunctionConfiguration

Sources:

[1] AWS's own measurement published in M. B. Uddin, B. He, R. Sion, "Cloud Performance
    Benchmark Series: Amazon Simple Queue Service (SQS)", Stony Brook University, revised
    July 2012: 16 ms to send a 1 KB message from EC2 in the same region.
[2] H. Fernandes, "SQS's Slow Tail Latency" and "SQS Performance (II)", hfernandes.com: the
    p99 of SendMessage from Python (boto3) is set by slow requests, one in 80 on a kept-alive
    connection, several times the median.
[3] Amazon DynamoDB Developer Guide: "single-digit millisecond" reads and writes at any scale.
[4] Amazon DynamoDB Developer Guide, "Amazon DynamoDB transactions": a transaction does two
    underlying reads or writes of each item; the figures are twice a single write's.

The medians of the other SQS data-plane calls are taken to be those of a send [1]; all p99s
are our estimates of the tails [2] describes (5 x the median). "estimate": AWS publishes no
latency for its control-plane calls; these are our estimates (tens to hundreds of
milliseconds a call, as the AWS CLI shows against a region). Where a job must hold on AWS,
give your own figures: ``Latency.aws().with_spreads({"sqs.SendMessage": Spread(30, 400)})``.

Draws are seeded (``Latency(seed=...)``); threads draw from one generator, so concurrent
invocations may take the draws in another order from run to run.

Example:
    >>> latency = Latency.aws(seed=7)
    >>> latency.spread("sqs", "SendMessage")
    Spread(p50_ms=15.0, p99_ms=75.0)
    >>> latency.spread("sqs", "ListDeadLetterSourceQueues")  # the service's default
    Spread(p50_ms=30.0, p99_ms=150.0)
"""

from __future__ import annotations

import collections
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ..errors import ConfigurationError
from . import trace

__all__ = ["AWS_LATENCY", "Latency", "LatencyInjector", "Spread"]

#: The standard normal's 99th percentile: sigma = ln(p99 / p50) / this.
_Z99 = 2.326347874


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or value <= 0
    ):
        raise ConfigurationError(f"{attribute.name} must be a number > 0, got {value!r}")


@attrs.frozen
class Spread:
    """One operation's latency: log-normal through its median and its 99th percentile.

    Args:
        p50_ms: the median, in milliseconds.
        p99_ms: the 99th percentile (at least the median).

    Raises:
        ConfigurationError: a figure that is not > 0, or a p99 below the p50.

    Example:
        >>> rng = random.Random(2)
        >>> draws = sorted(Spread(10, 50).draw_s(rng) for _ in range(100_000))
        >>> round(draws[50_000] * 1000), round(draws[99_000] * 1000)  # ms
        (10, 50)
    """

    p50_ms: float = attrs.field(converter=float, validator=_positive)
    p99_ms: float = attrs.field(converter=float, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.p99_ms < self.p50_ms:
            raise ConfigurationError(
                f"a Spread's p99_ms ({self.p99_ms:g}) must be at least its p50_ms ({self.p50_ms:g})"
            )

    def draw_s(self, rng: random.Random) -> float:
        """One latency, in seconds."""
        sigma = math.log(self.p99_ms / self.p50_ms) / _Z99
        return rng.lognormvariate(math.log(self.p50_ms), sigma) / 1000.0


def _table(rows: Mapping[str, tuple[float, float]]) -> Mapping[str, Spread]:
    return MappingProxyType({key: Spread(p50, p99) for key, (p50, p99) in rows.items()})


#: The ``"aws"`` profile: ``"service.Operation"`` (or ``"service"``, its default) -> Spread.
AWS_LATENCY: Mapping[str, Spread] = _table(
    {
        "sqs.SendMessage": (15, 75),
        "sqs.SendMessageBatch": (20, 100),
        "sqs.ReceiveMessage": (12, 60),
        "sqs.DeleteMessage": (12, 60),
        "sqs.ChangeMessageVisibility": (12, 60),
        "sqs.DeleteMessageBatch": (15, 75),
        "sqs.ChangeMessageVisibilityBatch": (15, 75),
        "sqs.GetQueueAttributes": (10, 50),
        "sqs.GetQueueUrl": (10, 50),
        "sqs.CreateQueue": (60, 300),
        "sqs.DeleteQueue": (40, 200),
        "sqs": (30, 150),
        "dynamodb.GetItem": (4, 15),
        "dynamodb.PutItem": (6, 20),
        "dynamodb.DeleteItem": (6, 20),
        "dynamodb.UpdateItem": (7, 25),
        "dynamodb.Query": (8, 30),
        "dynamodb.TransactWriteItems": (15, 60),
        "dynamodb.TransactGetItems": (10, 40),
        "dynamodb.CreateTable": (150, 600),
        "dynamodb": (7, 25),
        "lambda.CreateEventSourceMapping": (150, 600),
        "lambda.DeleteEventSourceMapping": (100, 400),
        "lambda.PutFunctionRecursionConfig": (80, 300),
        "lambda.GetEventSourceMapping": (40, 150),
        "lambda.GetFunctionConfiguration": (40, 150),
        "lambda": (60, 250),
    }
)


def _spreads(value: Mapping[str, Spread]) -> Mapping[str, Spread]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Spread) for k, v in value.items()
    ):
        raise ConfigurationError(
            "Latency.operations maps 'service.Operation' (or 'service') to a Spread, e.g. "
            f"{{'sqs.SendMessage': Spread(15, 75)}}; got {value!r}"
        )
    return MappingProxyType(dict(value))


def _seed(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigurationError(f"Latency.seed must be None or an int, got {value!r}")


@attrs.frozen
class Latency:
    """How long each AWS call of a job waits on :class:`~relaystate.local.LocalLambda`.

    Args:
        operations: ``"service.Operation"`` -> :class:`Spread`; ``"service"`` alone is that
            service's default. An operation found in neither is not delayed. Default: the
            ``"aws"`` profile (:data:`AWS_LATENCY`, sources in this module's documentation).
        seed: seeds the draws (``None``: a new sequence each run).
        scale: every draw is multiplied by it (``0.5``: half AWS's latency).

    Raises:
        ConfigurationError: a table that is not ``str -> Spread``, a seed that is not an
            int, a scale that is not > 0.

    Example:
        >>> with LocalLambda(latency=Latency.aws(seed=1)) as lam:  # doctest: +SKIP
        ...     lam.deploy(CopyRows)
        >>> Latency({"sqs.SendMessage": Spread(50, 400)}).spread("sqs", "SendMessage")
        Spread(p50_ms=50.0, p99_ms=400.0)
    """

    operations: Mapping[str, Spread] = attrs.field(default=AWS_LATENCY, converter=_spreads)
    seed: int | None = attrs.field(default=None, validator=_seed)
    scale: float = attrs.field(default=1.0, validator=_positive)

    @classmethod
    def aws(cls, *, seed: int | None = None, scale: float = 1.0) -> Latency:
        """The ``"aws"`` profile: :data:`AWS_LATENCY`."""
        return cls(AWS_LATENCY, seed=seed, scale=scale)

    def with_spreads(self, spreads: Mapping[str, Spread]) -> Latency:
        """This latency with some operations' spreads replaced (or added).

        Example:
            >>> slow = Latency.aws().with_spreads({"sqs.SendMessage": Spread(30, 400)})
            >>> slow.spread("sqs", "SendMessage").p99_ms
            400.0
        """
        return attrs.evolve(self, operations={**self.operations, **spreads})

    def spread(self, service: str, operation: str) -> Spread | None:
        """The spread of ``service``'s ``operation``: its own, its service's, or ``None``."""
        return self.operations.get(f"{service}.{operation}") or self.operations.get(service)


class LatencyInjector:
    """Makes the job's calls wait as :class:`Latency` says (internal to LocalLambda).

    A call of a client takes the time drawn for it, the endpoint's own time included: half
    is waited before the request (a call that a killed invocation did not make yet), the
    rest after the answer, less what the endpoint took -- so moto's processing is not paid on
    top of AWS's latency, unless it took longer than that half. A call with no endpoint
    behind it (the emulated Lambda API) waits it all at once (:meth:`delay`).

    Args:
        latency: the figures.
        sleep: how to wait (a fake in tests).
        clock: what :meth:`after` measures the endpoint's time by (a fake in tests).

    Example:
        >>> waited = []
        >>> injector = LatencyInjector(Latency({"sqs": Spread(10, 10)}), sleep=waited.append)
        >>> injector.delay("sqs", "SendMessage"), waited
        (0.01, [0.01])
    """

    def __init__(
        self,
        latency: Latency,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.latency = latency
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random(latency.seed)
        self._lock = threading.Lock()
        self._waited: collections.defaultdict[str, float] = collections.defaultdict(float)
        # This thread's call in progress: the half still to wait, and when the request left.
        self._call = threading.local()

    @property
    def waited_s(self) -> dict[str, float]:
        """Seconds drawn so far, by ``service.Operation`` (a copy)."""
        with self._lock:
            return dict(self._waited)

    def delay(self, service: str, operation: str) -> float:
        """Wait the time drawn for this call; return it (seconds). A killed invocation
        dies after the wait: its call was not made."""
        seconds = self._draw(service, operation)
        if seconds:
            self._sleep(seconds)
            trace.check_alive()
        return seconds

    def before(self, service: str, operation: str) -> float:
        """Wait the first half of the time drawn for a call about to be sent; return the
        drawn time (seconds). A killed invocation dies after the wait: its call was not made.

        Example:
            >>> waited = []
            >>> injector = LatencyInjector(Latency({"sqs": Spread(10, 10)}),
            ...                            sleep=waited.append, clock=lambda: 0.0)
            >>> injector.before("sqs", "SendMessage"), injector.after(), waited
            (0.01, 0.005, [0.005, 0.005])
        """
        seconds = self._draw(service, operation)
        self._call.rest = None
        if seconds:
            half = seconds / 2
            self._sleep(half)
            trace.check_alive()
            self._call.rest = (seconds - half, self._clock())
        return seconds

    def after(self) -> float:
        """Wait the rest of this thread's call, less the time its answer took; return it."""
        rest: tuple[float, float] | None = getattr(self._call, "rest", None)
        self._call.rest = None
        if rest is None:
            return 0.0
        left = round(rest[0] - (self._clock() - rest[1]), 6)
        if left <= 0:
            return 0.0
        self._sleep(left)
        return left

    def install(self, client: Any, service: str) -> None:
        """Delay every call of a boto3 client of ``service`` (after the hooks already on it)."""

        def before_call(model: Any, **_: Any) -> None:
            self.before(service, str(model.name))

        def after_call(**_: Any) -> None:
            self.after()

        client.meta.events.register(f"before-call.{service}", before_call)
        client.meta.events.register(f"after-call.{service}", after_call)

    def _draw(self, service: str, operation: str) -> float:
        spread = self.latency.spread(service, operation)
        if spread is None:
            return 0.0
        with self._lock:
            seconds = round(spread.draw_s(self._rng) * self.latency.scale, 6)
            self._waited[f"{service}.{operation}"] += seconds
        return seconds
