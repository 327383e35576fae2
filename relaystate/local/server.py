"""The embedded endpoint: moto's server on 127.0.0.1, a free port, fake credentials.

One endpoint serves every service moto has -- SQS, DynamoDB, S3 and the rest -- which is what
makes ``lam.endpoint_url`` the one address a handler's clients need.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "FAKE_CREDENTIALS",
    "LOCAL_REGION",
    "EmbeddedSqs",
    "OneAtATime",
    "local_client",
    "moto_process",
    "sqs_client",
]

LOCAL_REGION = "us-east-1"
#: moto accepts any credentials; these make sure no real ones are ever sent.
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def local_client(
    service: str,
    endpoint_url: str,
    region_name: str = LOCAL_REGION,
    *,
    session: boto3.Session | None = None,
    **kwargs: Any,
) -> Any:
    """A real boto3 client of ``service`` for ``endpoint_url``, fake credentials unless given.

    Pass a ``session`` to reuse: a new one reloads botocore's data files (~0.1 s).

    Example:
        >>> ddb = local_client("dynamodb", "http://127.0.0.1:5000")  # doctest: +SKIP
    """
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {**FAKE_CREDENTIALS, **kwargs}
    options.setdefault("config", Config(retries={"mode": "standard", "max_attempts": 3}))
    maker: Any = session or boto3.session.Session()  # any service: the stubs' overloads
    return maker.client(service, endpoint_url=endpoint_url, region_name=region_name, **options)


def sqs_client(
    endpoint_url: str,
    region_name: str = LOCAL_REGION,
    *,
    session: boto3.Session | None = None,
    **kwargs: Any,
) -> SQSClient:
    """A real boto3 SQS client for ``endpoint_url`` with fake credentials (unless given)."""
    client: SQSClient = local_client("sqs", endpoint_url, region_name, session=session, **kwargs)
    return client


class OneAtATime:
    """A boto3 client whose API calls run one at a time (the rest passes through as it is).

    moto's server checks a conditional write's condition and then writes: two concurrent
    conditional writes to one item could both succeed, which DynamoDB never allows.

    Example:
        >>> ddb = OneAtATime(local_client("dynamodb", endpoint_url))  # doctest: +SKIP
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if name.startswith("_") or not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return found(*args, **kwargs)

        return call


class EmbeddedSqs:
    """moto's server in a thread on 127.0.0.1, on a free port: SQS, DynamoDB, S3... on one endpoint.

    Its state is the process's: a second server in the same process sees the first one's
    queues, tables and buckets (moto keeps them in memory, per account and region).

    Example:
        >>> with EmbeddedSqs() as sqs:  # doctest: +SKIP
        ...     client = sqs_client(sqs.endpoint_url)
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the embedded SQS endpoint listens on loopback only")
        self.host = host
        self._server: Any = None
        self.endpoint_url = ""

    def start(self) -> Self:
        if self._server is not None:
            return self
        # moto's server logs every request through werkzeug; keep the user's terminal quiet.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
        from moto.server import ThreadedMotoServer

        from . import moto_patch

        moto_patch.apply()
        server = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        """Stop the server; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def moto_process(start_timeout_s: float = 30.0) -> Iterator[str]:
    """moto's server in a process of its own on 127.0.0.1; yields its endpoint URL.

    Unlike :class:`EmbeddedSqs` (a thread of this process) it does not compete with the code
    under test for the GIL: for benchmarks and for heavily threaded tests.

    Example:
        >>> with moto_process() as endpoint:  # doctest: +SKIP
        ...     lam = LocalLambda(endpoint_url=endpoint)
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "relaystate.local.moto_patch", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
