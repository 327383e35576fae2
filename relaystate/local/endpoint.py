"""One local endpoint for every service a relay uses: moto's SQS, DynamoDB and S3, and Lambda.

:class:`LocalEndpoint` serves moto's server application behind a
:class:`~relaystate.local.lambda_api.LambdaApi` on one port of 127.0.0.1, in a thread of this
process: boto3 clients of any process reach all four services at one URL
(``AWS_ENDPOINT_URL``), and their Lambda calls are answered by the
:class:`~relaystate.local.LocalLambda` given to :meth:`LocalEndpoint.serve`. It is what
``relaystate serve`` runs; everything it holds lives in memory and goes when it stops.

Example:
    >>> with LocalEndpoint(port=4566) as endpoint:  # doctest: +SKIP
    ...     with LocalLambda(endpoint_url=endpoint.url) as lam:
    ...         endpoint.serve(lam)
    ...         lam.deploy(CopyRows)
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any, Self

from .lambda_api import LambdaApi

if TYPE_CHECKING:
    from .runtime import LocalLambda

__all__ = ["LocalEndpoint"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class LocalEndpoint:
    """moto's server and the Lambda API on ``host:port`` (loopback only), in a thread.

    Args:
        port: the port to listen on; ``0`` picks a free one (see :attr:`url`).
        host: a loopback address: the endpoint accepts any credentials, so it must not be
            reachable from other machines.

    Raises:
        ValueError: ``host`` is not a loopback address.

    Example:
        >>> endpoint = LocalEndpoint(port=0).start()  # doctest: +SKIP
        >>> endpoint.url  # doctest: +SKIP
        'http://127.0.0.1:53211'
    """

    def __init__(self, port: int = 4566, host: str = "127.0.0.1") -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"the local endpoint listens on loopback only, not {host!r}")
        self.host = host
        self.port = port
        self.api: LambdaApi | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` once started (the port it got, when ``0`` was asked)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Listen and serve in a daemon thread; idempotent.

        Raises:
            OSError: the port is taken (``errno.EADDRINUSE``) or cannot be bound.
        """
        if self._server is not None:
            return self
        # moto's server logs every request through werkzeug; keep the terminal for the jobs.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from . import moto_patch

        moto_patch.apply()
        self.api = LambdaApi(DomainDispatcherApplication(create_backend_app))
        _check_free(self.host, self.port)
        try:
            server = make_server(
                self.host, self.port, self.api, threaded=True, request_handler=MotoRequestHandler
            )
        except SystemExit:  # werkzeug prints and exits when the port is taken
            raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE)) from None
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="relaystate-endpoint", daemon=True
        )
        self._thread.start()
        return self

    def serve(self, lam: LocalLambda) -> None:
        """Answer Lambda requests from ``lam``'s functions and mappings from now on."""
        if self.api is None:
            raise RuntimeError("start() the endpoint before serve()")
        self.api.registry = lam.mappings

    def stop(self) -> None:
        """Stop serving and free the port; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _check_free(host: str, port: int) -> None:
    """Raise ``OSError`` if ``port`` cannot be bound (werkzeug would exit the process)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        # As the server will: a port left in TIME_WAIT by a previous run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
