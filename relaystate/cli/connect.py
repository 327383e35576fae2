"""The AWS options every operating command takes, and the clients they make.

``--region``, ``--profile`` and ``--endpoint-url`` make one boto3 session and its SQS and Lambda
clients. A caller that runs the command in process may pass a :class:`~relaystate.ports.Backend`
as click's ``obj`` (``cli.main(obj=lam.backend)``, ``CliRunner().invoke(cli, args,
obj=lam.backend)``): its mappings port is used instead of Lambda's API. That is how the commands
see the mappings of a :class:`~relaystate.local.LocalLambda`, which lives in that process only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import attrs
import click

from ..aws import aws_backend, map_aws_errors
from ..ports import Backend, LedgerPort
from .output import Failure

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["AwsTarget", "Connection", "aws_options", "json_option"]

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class Connection:
    """The clients of one command run: SQS for queues and messages, a backend for mappings.

    Example:
        >>> conn = AwsTarget(region="eu-west-1").connect()  # doctest: +SKIP
        >>> conn.sqs.list_queues(QueueNamePrefix="relay-")  # doctest: +SKIP
    """

    sqs: SQSClient
    backend: Backend
    region: str

    def ledger(self, table_name: str) -> LedgerPort:
        """The progress ledger in the DynamoDB table ``table_name``, where the backend is."""
        if self.backend.ledgers is None:  # pragma: no cover - every backend here has ledgers
            raise Failure("this backend has no ledger")
        return self.backend.ledgers(table_name)


@attrs.frozen
class AwsTarget:
    """Where the command works: ``--region``, ``--profile``, ``--endpoint-url``.

    ``backend``: a Backend whose mappings to use instead of Lambda's API (click's ``obj``,
    when a caller passed one).

    Example:
        >>> AwsTarget(region="eu-west-1").connect()  # doctest: +SKIP
    """

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    backend: Backend | None = None

    def connect(self) -> Connection:
        """Make the session and clients (or take :attr:`backend`'s mappings).

        Raises:
            click.UsageError: no region is configured anywhere.
            CredentialsError: the profile does not exist.
        """
        import boto3
        from botocore.config import Config

        with map_aws_errors("boto3", "Session"):
            session = boto3.Session(profile_name=self.profile, region_name=self.region)
        region = session.region_name
        if not region:
            raise click.UsageError(
                "no AWS region configured: pass --region (or a --profile that has one), or set "
                "AWS_DEFAULT_REGION"
            )
        config = Config(
            retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30
        )
        with map_aws_errors("sqs", "CreateClient"):
            sqs = session.client(
                "sqs", region_name=region, endpoint_url=self.endpoint_url, config=config
            )
        if self.backend is not None:
            backend = self.backend
        else:
            backend = aws_backend(
                session=session,
                sqs_client=sqs,
                config=config,
                region_name=region,
                endpoint_url=self.endpoint_url,
            )
        return Connection(sqs=sqs, backend=backend, region=region)


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--endpoint-url``: an http(s) URL with a host, or nothing."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(
            f"expected an http:// or https:// URL with a host, e.g. http://127.0.0.1:5000; "
            f"got {value!r}"
        )
    return value


def aws_options(func: F) -> F:
    """Add ``--region``, ``--profile``, ``--endpoint-url``; the command gets ``aws: AwsTarget``.

    A :class:`~relaystate.ports.Backend` passed as click's ``obj`` becomes the target's
    ``backend``: the command need not take ``obj`` itself.

    Example:
        >>> @click.command()  # doctest: +SKIP
        ... @aws_options
        ... def ls(aws: AwsTarget) -> None: ...
    """

    @click.option("--region", help="The AWS region  [default: the profile's or AWS_DEFAULT_REGION]")
    @click.option("--profile", help="The AWS profile to use  [default: the default chain]")
    @click.option(
        "--endpoint-url",
        callback=_http_url,
        help="Send SQS and Lambda calls here instead of AWS (e.g. a local moto server).",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        region: str | None,
        profile: str | None,
        endpoint_url: str | None,
        **kwargs: Any,
    ) -> Any:
        obj = click.get_current_context().obj
        target = AwsTarget(
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            backend=obj if isinstance(obj, Backend) else None,
        )
        return func(*args, aws=target, **kwargs)

    return wrapper  # type: ignore[return-value]


def json_option(func: F) -> F:
    """Add ``--json``: the command gets ``as_json: bool``.

    Example:
        >>> @click.command()  # doctest: +SKIP
        ... @json_option
        ... def ls(as_json: bool) -> None: ...
    """
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of text."
    )(func)
