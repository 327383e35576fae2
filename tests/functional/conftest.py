"""Fixtures of the functional tier beyond the session's endpoint (``tests/conftest.py``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

#: moto's own server, unpatched, on a free port of 127.0.0.1: prints the port, runs until stdin
#: closes.
_PLAIN_MOTO = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


@pytest.fixture(scope="module")
def plain_moto_endpoint() -> Iterator[str]:
    """The URL of moto's own server, without relaystate's speed-ups, in a process of its own:
    what the patched endpoint's answers are compared with."""
    with subprocess.Popen(
        [sys.executable, "-c", _PLAIN_MOTO],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as server:
        assert server.stdin is not None
        assert server.stdout is not None
        try:
            port = int(server.stdout.readline())
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stdin.close()  # the server stops
            server.wait(timeout=10)
