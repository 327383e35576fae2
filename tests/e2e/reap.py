"""Delete what the e2e tier made: a run's resources at its end, or what crashed runs left.

::

    python -m tests.e2e.reap --region eu-west-1 [--older-than 2h] [--dry-run] [--profile P]

Only names that begin with ``relay-e2e-`` (or a longer prefix given) are ever touched; anything
else is not even looked at twice. The order is AWS's: event-source mappings first (waited until
gone: a mapping left on a deleted queue's ARN blocks a new one), then functions, queues, tables,
roles (their inline policies first, and any attached policy detached), and the functions' log
groups. A deletion that fails is reported and the others go on; a resource already gone is not
an error.

Example:
    >>> parse_age("2h"), parse_age("30m"), parse_age("1d"), parse_age("90s")
    (7200.0, 1800.0, 86400.0, 90.0)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
from botocore.exceptions import ClientError

from tests.e2e.names import LOG_GROUP_PREFIX, PREFIX

__all__ = ["KINDS", "Clients", "Found", "Reaped", "Reaper", "main", "parse_age"]

#: What the reaper deletes, in the order it deletes them.
KINDS = ("mapping", "function", "queue", "table", "role", "log group")
#: Error codes that mean "already gone".
_GONE = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchEntity",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    }
)
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_age(text: str) -> float:
    """Seconds in ``<number><s|m|h|d>``.

    Raises:
        ValueError: another form.
    """
    number, unit = text[:-1], text[-1:].lower()
    if unit not in _UNITS or not number.replace(".", "", 1).isdigit():
        raise ValueError(f"an age is a number and s, m, h or d (e.g. 2h), got {text!r}")
    return float(number) * _UNITS[unit]


def check_prefix(prefix: str) -> str:
    """``prefix``, if it is the e2e tier's (or longer).

    Raises:
        ValueError: a prefix that could name what the e2e tier did not make.
    """
    if not prefix.startswith(PREFIX) or not prefix.replace("-", "").isalnum():
        raise ValueError(f"the reaper deletes only names under {PREFIX!r}, not {prefix!r}")
    return prefix


@attrs.frozen
class Clients:
    """The clients the reaper calls (for the tests: stubbed, or on moto's server)."""

    lambda_: Any
    sqs: Any
    dynamodb: Any
    iam: Any
    logs: Any

    @classmethod
    def made_by(cls, make: Callable[[str], Any]) -> Clients:
        """The clients ``make(service)`` makes (e.g. a :class:`tests.e2e.account.Connect`)."""
        return cls(make("lambda"), make("sqs"), make("dynamodb"), make("iam"), make("logs"))

    @classmethod
    def of(cls, session: Any, **client_kwargs: Any) -> Clients:
        """Clients of a boto3 session (``client_kwargs``: e.g. ``region_name``)."""
        return cls.made_by(lambda service: session.client(service, **client_kwargs))


@attrs.frozen
class Found:
    """A resource to delete.

    Attributes:
        kind: one of :data:`KINDS`.
        name: its name (a mapping's: its UUID; a queue's: its URL's last part).
        created: when it was made (or last changed, where AWS keeps no more), if known.
        detail: a mapping's queue and function; a queue's URL.
    """

    kind: str
    name: str
    created: datetime | None = None
    detail: str = ""

    def __str__(self) -> str:
        when = f", {self.created:%Y-%m-%d %H:%M} UTC" if self.created else ""
        detail = f" ({self.detail})" if self.detail and self.kind == "mapping" else ""
        return f"{self.kind} {self.name}{detail}{when}"


@attrs.frozen
class Reaped:
    """What a reap did: deleted (or, dry, would delete), and what failed, with why."""

    deleted: tuple[Found, ...] = ()
    failed: tuple[tuple[Found, str], ...] = ()


class Reaper:
    """Finds and deletes the e2e tier's resources under a prefix.

    Args:
        clients: the AWS clients.
        prefix: what the names begin with: ``relay-e2e-`` for every run, or one run's prefix.
        older_than_s: only what is at least this old (what a crashed run left, not what a run
            makes now); ``None``: everything under the prefix.
        now, sleep: the clock (for the tests).
        wait_s: how long to wait for deleted mappings to be gone.
        echo: where each step is written.

    Example:
        >>> Reaper(None, prefix="relay-0a1b")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the reaper deletes only names under 'relay-e2e-', not 'relay-0a1b'
    """

    def __init__(
        self,
        clients: Clients | None,
        *,
        prefix: str = PREFIX,
        older_than_s: float | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        wait_s: float = 300.0,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.prefix = check_prefix(prefix)
        self.clients = clients
        self.older_than_s = older_than_s
        self.now = now
        self.sleep = sleep
        self.wait_s = wait_s
        self.echo = echo

    # -- finding ---------------------------------------------------------------------------

    def find(self) -> list[Found]:
        """Everything under the prefix (old enough), in the order it must be deleted."""
        found = [
            *self._mappings(),
            *self._functions(),
            *self._queues(),
            *self._tables(),
            *self._roles(),
            *self._log_groups(),
        ]
        return [f for f in found if self._old_enough(f)]

    def owns(self, name: str) -> bool:
        """Whether a name is under the prefix."""
        return name.startswith(self.prefix)

    def _old_enough(self, found: Found) -> bool:
        if self.older_than_s is None:
            return True
        if found.created is None:
            return False  # when unknown, not ours to judge
        return (self.now() - found.created).total_seconds() >= self.older_than_s

    def _mappings(self) -> Iterator[Found]:
        for page in _pages(self._client("lambda_"), "list_event_source_mappings"):
            for m in page.get("EventSourceMappings", ()):
                queue = m.get("EventSourceArn", "").rsplit(":", 1)[-1]
                function = m.get("FunctionArn", "").split(":function:", 1)[-1].split(":")[0]
                if self.owns(queue) or self.owns(function):
                    yield Found(
                        "mapping", m["UUID"], m.get("LastModified"), f"{queue} -> {function}"
                    )

    def _functions(self) -> Iterator[Found]:
        for page in _pages(self._client("lambda_"), "list_functions"):
            for f in page.get("Functions", ()):
                if self.owns(f["FunctionName"]):
                    yield Found("function", f["FunctionName"], _iso(f.get("LastModified")))

    def _queues(self) -> Iterator[Found]:
        sqs = self._client("sqs")
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            page = sqs.list_queues(QueueNamePrefix=self.prefix, MaxResults=1000, **extra)
            for url in page.get("QueueUrls", ()):
                name = url.rsplit("/", 1)[-1]
                if self.owns(name):  # SQS filtered by the prefix; never trust a filter alone
                    yield Found("queue", name, self._queue_created(url), url)
            token = page.get("NextToken")
            if not token:
                return

    def _queue_created(self, url: str) -> datetime | None:
        if self.older_than_s is None:
            return None  # not needed: no call
        try:
            attributes = self._client("sqs").get_queue_attributes(
                QueueUrl=url, AttributeNames=["CreatedTimestamp"]
            )["Attributes"]
        except ClientError:
            return None
        return datetime.fromtimestamp(int(attributes["CreatedTimestamp"]), UTC)

    def _tables(self) -> Iterator[Found]:
        dynamodb = self._client("dynamodb")
        for page in _pages(dynamodb, "list_tables"):
            for name in page.get("TableNames", ()):
                if self.owns(name):
                    created = None
                    if self.older_than_s is not None:
                        table = dynamodb.describe_table(TableName=name)["Table"]
                        created = table.get("CreationDateTime")
                    yield Found("table", name, created)

    def _roles(self) -> Iterator[Found]:
        for page in _pages(self._client("iam"), "list_roles"):
            for role in page.get("Roles", ()):
                if self.owns(role["RoleName"]):
                    yield Found("role", role["RoleName"], role.get("CreateDate"))

    def _log_groups(self) -> Iterator[Found]:
        logs = self._client("logs")
        group_prefix = LOG_GROUP_PREFIX + self.prefix
        for page in _pages(logs, "describe_log_groups", logGroupNamePrefix=group_prefix):
            for group in page.get("logGroups", ()):
                name = group["logGroupName"]
                if name.startswith(group_prefix):
                    created = group.get("creationTime")
                    when = datetime.fromtimestamp(created / 1000, UTC) if created else None
                    yield Found("log group", name, when)

    # -- deleting --------------------------------------------------------------------------

    def reap(self, found: Iterable[Found] | None = None, *, dry_run: bool = False) -> Reaped:
        """Delete ``found`` (default: :meth:`find`), in :data:`KINDS` order; with ``dry_run``,
        only say what would go."""
        chosen = list(found) if found is not None else self.find()
        unique = {(f.kind, f.name): f for f in chosen if self._under_prefix(f)}
        ordered = sorted(unique.values(), key=lambda f: KINDS.index(f.kind))
        if dry_run:
            for f in ordered:
                self.echo(f"would delete {f}")
            return Reaped(deleted=tuple(ordered))
        deleted: list[Found] = []
        failed: list[tuple[Found, str]] = []
        waiting: list[Found] = []  # mappings deleted, maybe still Deleting
        for f in ordered:
            if f.kind != "mapping" and waiting:
                self._wait_gone(waiting, failed)  # before what they read or invoke goes
                waiting = []
            try:
                self._delete(f)
            except ClientError as exc:
                if _code(exc) not in _GONE:
                    failed.append((f, f"{_code(exc)}: {exc}"))
                    self.echo(f"FAILED to delete {f}: {exc}")
                    continue
            deleted.append(f)
            if f.kind == "mapping":
                waiting.append(f)
            self.echo(f"deleted {f}")
        if waiting:
            self._wait_gone(waiting, failed)
        return Reaped(deleted=tuple(deleted), failed=tuple(failed))

    def _under_prefix(self, found: Found) -> bool:
        if found.kind == "log group":
            return found.name.startswith(LOG_GROUP_PREFIX + self.prefix)
        if found.kind == "mapping":
            return any(self.owns(part) for part in found.detail.split(" -> "))
        return self.owns(found.name)

    def _delete(self, found: Found) -> None:
        if found.kind == "mapping":
            self._client("lambda_").delete_event_source_mapping(UUID=found.name)
        elif found.kind == "function":
            self._client("lambda_").delete_function(FunctionName=found.name)
        elif found.kind == "queue":
            sqs = self._client("sqs")
            url = found.detail or sqs.get_queue_url(QueueName=found.name)["QueueUrl"]
            sqs.delete_queue(QueueUrl=url)
        elif found.kind == "table":
            self._client("dynamodb").delete_table(TableName=found.name)
        elif found.kind == "role":
            self._delete_role(found.name)
        elif found.kind == "log group":
            self._client("logs").delete_log_group(logGroupName=found.name)
        else:
            raise ValueError(f"unknown kind {found.kind!r}")

    def _delete_role(self, name: str) -> None:
        iam = self._client("iam")
        for page in _pages(iam, "list_role_policies", RoleName=name):
            for policy in page.get("PolicyNames", ()):
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for page in _pages(iam, "list_attached_role_policies", RoleName=name):
            for policy in page.get("AttachedPolicies", ()):
                iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        iam.delete_role(RoleName=name)

    def _wait_gone(self, mappings: Sequence[Found], failed: list[tuple[Found, str]]) -> None:
        """Wait, bounded, until the deleted mappings are gone (``Deleting`` takes a while)."""
        lambda_ = self._client("lambda_")
        deadline = time.monotonic() + self.wait_s
        pending = list(mappings)
        delay = 1.0
        while pending:
            still = []
            for m in pending:
                try:
                    lambda_.get_event_source_mapping(UUID=m.name)
                    still.append(m)
                except ClientError as exc:
                    if _code(exc) not in _GONE:
                        still.append(m)
            pending = still
            if not pending:
                return
            if time.monotonic() > deadline:
                for m in pending:
                    failed.append((m, f"still there after {self.wait_s:.0f} s"))
                    self.echo(f"FAILED: {m} is still there after {self.wait_s:.0f} s")
                return
            self.sleep(delay)
            delay = min(delay * 2, 15.0)

    def _client(self, name: str) -> Any:
        if self.clients is None:
            raise ValueError("the reaper has no clients")
        return getattr(self.clients, name)


def _pages(client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    yield from client.get_paginator(operation).paginate(**kwargs)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _iso(text: str | None) -> datetime | None:
    """Lambda's ``LastModified``, always UTC (``2026-01-31T12:00:00.000+0000``); its fraction
    of a second is written in more than one way, and is not needed."""
    if not text:
        return None
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.e2e.reap``: list, then delete, the e2e resources crashed runs left."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.reap",
        description=f"Delete the e2e tier's resources (names under {PREFIX!r}) in a region.",
    )
    parser.add_argument("--region", required=True, help="the AWS region")
    parser.add_argument(
        "--older-than",
        type=parse_age,
        help="only what is at least this old, e.g. 2h (default: all of it)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list only; delete nothing")
    parser.add_argument(
        "--profile",
        default=os.environ.get("RELAYSTATE_E2E_PROFILE") or None,
        help="the AWS profile (default: RELAYSTATE_E2E_PROFILE, else boto3's default)",
    )
    parser.add_argument("--prefix", default=PREFIX, help=f"a longer prefix than {PREFIX!r}")
    args = parser.parse_args(argv)
    import boto3

    try:
        check_prefix(args.prefix)
    except ValueError as exc:
        parser.error(str(exc))
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    reaper = Reaper(Clients.of(session), prefix=args.prefix, older_than_s=args.older_than)
    found = reaper.find()
    if not found:
        print(f"nothing under {args.prefix!r} in {args.region}")
        return 0
    done = reaper.reap(found, dry_run=args.dry_run)
    return 1 if done.failed else 0


if __name__ == "__main__":
    sys.exit(main())
