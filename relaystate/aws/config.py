"""The botocore client configuration every adapter's client is made with, unless given one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.config import Config

__all__ = ["client_config"]


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
