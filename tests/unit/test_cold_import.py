"""What ``import relaystate`` loads: the Lambda path's cold start pays for every module."""

from __future__ import annotations

import subprocess
import sys

import relaystate

_LOADED = (
    "import sys, relaystate\n"
    "print(' '.join(sorted(m for m in sys.modules if m.startswith(('relaystate', 'transitions')))))"
)


def test_import_leaves_out_what_the_first_hop_or_a_backend_loads() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", _LOADED], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "relaystate.job" in loaded
    for later in (
        "relaystate.ports",  # with the backend (relaystate.aws, relaystate.testing)
        "transitions",  # with a job's machine, on its first use
        "relaystate.machine",
        "relaystate.ratelimit",  # with the features that use them
        "relaystate.signing",
        "relaystate.offload",
        "relaystate.aws",
    ):
        assert later not in loaded


def test_every_public_name_imports() -> None:
    namespace: dict[str, object] = {}
    exec("from relaystate import *", namespace)
    assert set(relaystate.__all__) <= set(namespace)
