"""The X-Ray trace header that carries a Lambda-SQS-Lambda chain, and Lambda's 16-hop stop.

On AWS, a function that sends to SQS from inside an invocation passes the invocation's trace
header (``_X_AMZN_TRACE_ID``, sent by botocore as ``X-Amzn-Trace-Id``) to SQS, which stores it on
the message as the system attribute ``AWSTraceHeader``. The header's ``Lineage`` field counts,
per function, how often the chain has invoked it; when a function would be invoked more than
:data:`MAX_CHAIN_INVOCATIONS` times from one original event and its recursion setting is not
``Allow``, Lambda stops the chain.

Here the same happens in process: every invocation runs with a :class:`Scope` in a context
variable; a botocore hook on the local backend's SQS client stamps ``AWSTraceHeader`` on every
message sent while a scope is active (see :func:`install`).
"""

from __future__ import annotations

import contextvars
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import attrs

__all__ = [
    "MAX_CHAIN_INVOCATIONS",
    "FunctionKilled",
    "Scope",
    "TraceHeader",
    "current_scope",
    "function_hash",
    "install",
]

#: Lambda stops a recursive chain when a function would be invoked more often than this.
MAX_CHAIN_INVOCATIONS = 16
_LINEAGE_VERSION = "1"


def function_hash(function_arn: str) -> str:
    """The 8-hex-digit key a function has in the ``Lineage`` field."""
    return hashlib.sha256(function_arn.encode("utf-8")).hexdigest()[:8]


def _new_root() -> str:
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


@attrs.frozen
class TraceHeader:
    """An ``AWSTraceHeader`` value: ``Root=...;Parent=...;Sampled=0;Lineage=1:<fn>:<n>|...``.

    ``lineage`` holds ``(function hash, invocations of that function so far in the chain)``.

    Example:
        >>> h = TraceHeader.parse("Root=1-5f0c3a1e-0123456789abcdef01234567;Lineage=1:ab12cd34:3")
        >>> h.count_for("ab12cd34")
        3
    """

    root: str
    parent: str | None = None
    sampled: str = "0"
    lineage: tuple[tuple[str, int], ...] = ()

    @classmethod
    def new(cls) -> TraceHeader:
        """A header that starts a new chain."""
        return cls(root=_new_root())

    @classmethod
    def parse(cls, text: str | None) -> TraceHeader | None:
        """Read a header; ``None`` for no header or one without a ``Root``.

        Both lineage spellings seen on AWS are read: ``<hash>:<count>`` and
        ``<version>:<hash>:<count>``, entries separated by ``|``.
        """
        if not text:
            return None
        fields: dict[str, str] = {}
        for part in text.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep:
                fields[key] = value
        root = fields.get("Root")
        if not root:
            return None
        lineage: list[tuple[str, int]] = []
        for entry in filter(None, fields.get("Lineage", "").split("|")):
            pieces = entry.split(":")
            try:
                count = int(pieces[-1])
            except ValueError:
                continue
            if len(pieces) in (2, 3) and pieces[-2]:
                lineage.append((pieces[-2], count))
        return cls(
            root=root,
            parent=fields.get("Parent"),
            sampled=fields.get("Sampled", "0"),
            lineage=tuple(lineage),
        )

    def count_for(self, key: str) -> int:
        """How often the chain has invoked the function with lineage key ``key``."""
        return max((count for k, count in self.lineage if k == key), default=0)

    def with_count(self, key: str, count: int) -> TraceHeader:
        """This chain after an invocation: ``key``'s count set, a new parent segment id."""
        others = tuple((k, c) for k, c in self.lineage if k != key)
        return attrs.evolve(self, parent=secrets.token_hex(8), lineage=(*others, (key, count)))

    def format(self) -> str:
        """The header as SQS stores it."""
        parts = [f"Root={self.root}"]
        if self.parent:
            parts.append(f"Parent={self.parent}")
        parts.append(f"Sampled={self.sampled}")
        if self.lineage:
            entries = "|".join(f"{_LINEAGE_VERSION}:{k}:{c}" for k, c in self.lineage)
            parts.append(f"Lineage={entries}")
        return ";".join(parts)


@attrs.define(eq=False)
class Scope:
    """What the current invocation's AWS calls need: its trace header, and whether it was killed.

    ``killed`` is set when the invocation overran its timeout or an injected crash killed it
    (``crashed`` then says where): on AWS the runtime is gone then, so any later call through
    the local backend raises :class:`FunctionKilled` instead. ``faults`` are the faults drawn
    for the invocation (:class:`~relaystate.local.Faults`), if any: opaque here, so that this
    module, which the fault injector builds on, need not know their type (the injector reads
    them back with :func:`relaystate.local.faults.plan_of`).
    """

    function_name: str
    request_id: str
    header: TraceHeader
    killed: bool = False
    faults: object = None
    crashed: str = ""


class FunctionKilled(BaseException):
    """Raised inside a timed-out handler at its next AWS call: the invocation no longer exists.

    Also what an injected crash (:class:`~relaystate.local.Faults`) raises where it strikes.

    A ``BaseException`` so that a handler's ``except Exception`` does not carry on after it,
    as a killed Lambda runtime cannot.

    Example:
        >>> def handler(event, context):  # doctest: +SKIP
        ...     time.sleep(context.get_remaining_time_in_millis() / 1000 + 1)
        ...     lam.backend.queues.send(url, "late")  # raises FunctionKilled: nothing is sent
    """


_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "relaystate_local_invocation", default=None
)


def current_scope() -> Scope | None:
    """The invocation running in this thread (or context), if any."""
    return _scope.get()


def enter(scope: Scope) -> contextvars.Token[Scope | None]:
    """Make ``scope`` the current invocation (in the handler's own thread)."""
    return _scope.set(scope)


def check_alive() -> None:
    """Raise :class:`FunctionKilled` if the current invocation has been timed out."""
    scope = _scope.get()
    if scope is not None and scope.killed:
        why = f"died ({scope.crashed})" if scope.crashed else "timed out"
        raise FunctionKilled(
            f"invocation {scope.request_id} of {scope.function_name} {why}; "
            "its runtime would be gone on AWS, so it makes no more AWS calls"
        )


def _stamp(params: dict[str, Any], **_: Any) -> None:
    """``before-parameter-build``: add ``AWSTraceHeader`` to what an invocation sends."""
    scope = _scope.get()
    if scope is None:
        return
    value = {"StringValue": scope.header.format(), "DataType": "String"}
    targets = params.get("Entries") if "Entries" in params else [params]
    for target in targets or []:
        if isinstance(target, dict):
            system = dict(target.get("MessageSystemAttributes") or {})
            system.setdefault("AWSTraceHeader", value)
            target["MessageSystemAttributes"] = system


def install(
    client: Any,
    *,
    on_call: Callable[[str], None],
    on_sent: Callable[[], None],
) -> None:
    """Hook ``client`` (a boto3 SQS client): stamp sends, refuse killed callers, report calls.

    ``on_call(operation)`` runs before every call (after the kill check), ``on_sent()`` after
    every successful ``SendMessage``/``SendMessageBatch``.
    """
    events = client.meta.events
    events.register("before-parameter-build.sqs.SendMessage", _stamp)
    events.register("before-parameter-build.sqs.SendMessageBatch", _stamp)

    def before_call(model: Any, **_: Any) -> None:
        check_alive()
        on_call(str(model.name))

    def after_send(**_: Any) -> None:
        on_sent()

    events.register("before-call.sqs", before_call)
    events.register("after-call.sqs.SendMessage", after_send)
    events.register("after-call.sqs.SendMessageBatch", after_send)


def install_alive_check(client: Any, service: str, *, on_call: Callable[[str], None]) -> None:
    """Hook a client of another service (the ledger's DynamoDB): refuse killed callers, count."""

    def before_call(model: Any, **_: Any) -> None:
        check_alive()
        on_call(str(model.name))

    client.meta.events.register(f"before-call.{service}", before_call)
