"""The botocore client configuration every adapter's client is made with, unless given one, and
the making of a client on first use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

__all__ = ["client_config", "make_client"]


def client_config() -> Config:
    """Standard retries (backing off on throttling), and timeouts: a hop must never hang on a call.

    Example:
        >>> client_config().retries
        {'mode': 'standard', 'max_attempts': 5}
    """
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30
    )


def make_client(
    service: str,
    session: boto3.Session | None,
    config: Config | None,
    client_kwargs: Mapping[str, Any],
) -> Any:
    """A boto3 client of ``service`` from ``session`` (default: a new default session) with
    ``config`` (default: :func:`client_config`): what an adapter makes on its first call.

    Raises:
        ConfigurationError: no region is configured.
        CredentialsError: the named profile does not exist.

    Example:
        >>> make_client("s3", None, None, {"region_name": "eu-west-1"})  # doctest: +SKIP
    """
    import boto3

    from .errors import map_aws_errors

    with map_aws_errors(service, "CreateClient"):
        made: Any = session or boto3.Session()
        return made.client(service, config=config or client_config(), **client_kwargs)
