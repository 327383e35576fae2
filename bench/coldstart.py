"""Cold-start benchmark: what relaystate adds to boto3 when a Lambda starts cold.

Each sample is a fresh interpreter (compiled bytecode for every module, see ``_ENV``) that
times, wall clock and process CPU, from before its first import to the end of the case:

    boto3                 ``import boto3``
    runtime deps          ``import boto3, attrs, transitions`` (what relaystate depends on)
    RelayJob import       ``import boto3`` + ``from relaystate import DONE, RelayJob`` and a job
                          class (what a worker module does at import)
    first hop, RelayJob   the same, then the first ``handle()`` of a hop on in-memory queues
    first hop, hand       ``import boto3``, a hand-written handler
                          (:func:`bench.overhead.hand_written`, its source run in the child) and
                          its first call, sending to an in-memory list

The first-hop cases pause their clocks while the in-memory queues are made (relaystate's
twins are loaded around ``relaystate.testing``'s package, which would load the simulator; the
modules they bring are listed, so that none of what ``handle()`` loads is hidden). The adapters
of a Lambda's default backend, :mod:`relaystate.aws`, are imported in the timed part. Import
laziness shows here: ``transitions`` loads on a job's first hop, so the first-hop row pays it.

Runs go in rounds of one sample per case, the order rotating round by round, so that drift of
a shared machine hits every case; each ratio is taken round by round (pairs of the same
round), its median and range reported.
"""

from __future__ import annotations

import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from .overhead import hand_written

ROUNDS = 30

# As on Lambda, where a deployment package's modules are compiled: boto3's are (pip compiled
# them at install); an editable checkout's are not, and PYTHONDONTWRITEBYTECODE=1 would keep
# them that way, timing relaystate's compiler runs instead of its imports.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

_START = """\
import sys, time
_wall, _cpu = time.perf_counter(), time.process_time()
"""
_STOP = """\
_wall, _cpu = time.perf_counter() - _wall, time.process_time() - _cpu
"""
_REPORT = """\
import json
print(json.dumps({"wall": _wall * 1e3, "cpu": _cpu * 1e3, "extra": globals().get("_extra", [])}))
"""
_CONTEXT = """\
class _Context:
    function_name = "coldstart-worker"
    aws_request_id = "cold"

    def get_remaining_time_in_millis(self):
        return 60_000
"""
_JOB = """\
from relaystate import DONE, RelayJob

class Hops(RelayJob):
    function_name = "coldstart-worker"
    job_type = "bench.coldstart.Hops"

    def plan(self):
        return 0

    def step(self, cursor):
        return DONE if cursor + 1 >= self.data["hops"] else cursor + 1
"""
# Untimed: relaystate's in-memory twins without ``relaystate.testing``'s package module (which
# loads the simulator); ``_extra`` names what else they load, for the report.
_MEMORY = """\
_seen = set(sys.modules)
import os, types, relaystate
_testing = types.ModuleType("relaystate.testing")
_testing.__path__ = [os.path.join(os.path.dirname(relaystate.__file__), "testing")]
sys.modules["relaystate.testing"] = _testing
from relaystate.testing.events import sqs_event
from relaystate.testing.memory import memory_backend
from relaystate.testing.budget import UnitsPerHop
Hops.budget = UnitsPerHop.of(1)  # one unit a hop, as the hand-written handler's
_extra = sorted(m for m in set(sys.modules) - _seen if not m.startswith("relaystate.testing"))
_body = open(sys.argv[1]).read()
_backend = memory_backend()
_backend.queues.create(json.loads(_body)["queue_url"].rsplit("/", 1)[1], {}, {})
_event, _context = sqs_event(_body), _Context()
"""
_HAND_EVENT = """\
_sent = []
_event = {"Records": [{"messageId": "msg-0", "body": open(sys.argv[1]).read()}]}
_context = _Context()
"""


def _paused(setup: str) -> str:
    """``setup`` run with the clocks paused (its time is taken off them)."""
    return (
        "_pause_wall, _pause_cpu = time.perf_counter(), time.process_time()\n"
        "import json\n"
        f"{setup}"
        "_wall += time.perf_counter() - _pause_wall\n"
        "_cpu += time.process_time() - _pause_cpu\n"
    )


_FIRST_OURS = (
    _START
    + "import boto3\n"
    + _JOB
    + "import relaystate.aws  # a Lambda's default backend's adapters (no client made)\n"
    + _CONTEXT
    + _paused(_MEMORY)
    + "_out = Hops.handle(_event, _context, backend=_backend)\n"
    + _STOP
    + "assert _out == {'batchItemFailures': []}, _out\n"
    + "assert [m for q in _backend.queues.queues.values() for m in q.messages], 'no relay'\n"
)
_FIRST_HAND = (
    _START
    + "import boto3\n"
    + "import json\n"
    + "from collections.abc import Callable\n"
    + "from typing import Any\n"
    + inspect.getsource(hand_written)
    + "_handler = hand_written(lambda url, body: _sent.append((url, body)), 10**9)\n"
    + _CONTEXT
    + _paused(_HAND_EVENT)
    + "_out = _handler(_event, _context)\n"
    + _STOP
    + "assert _out == {'batchItemFailures': []} and len(_sent) == 1, _out\n"
)

CASES = [
    ("import boto3", _START + "import boto3\n" + _STOP),
    (
        "import boto3, attrs, transitions (the runtime deps)",
        _START + "import boto3, attrs, transitions\n" + _STOP,
    ),
    (
        "import boto3 + from relaystate import RelayJob, a job class",
        _START + "import boto3\n" + _JOB + _STOP,
    ),
    ("first hop: import boto3 + hand-written handler, its first call", _FIRST_HAND),
    ("first hop: import boto3 + RelayJob class, its first handle()", _FIRST_OURS),
]


def _sample(script: str, body_path: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script + _REPORT, body_path],
        capture_output=True,
        text=True,
        check=True,
        env=_ENV,
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _first_body() -> str:
    """A job's first packet, made in a process of its own (the bench's is warm)."""
    script = (
        "import sys\n" + _JOB + "from relaystate.testing import memory_backend\n"
        "job = Hops(data={'hops': 10**9}, backend=memory_backend()).start()\n"
        "print(job.packet.to_json())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=_ENV
    )
    return done.stdout.strip()


def measure(rounds: int = ROUNDS) -> tuple[list[dict[str, list[float]]], list[str]]:
    """Per case, its samples (``wall``, ``cpu`` in ms), in rounds; and what the first hop's
    untimed in-memory set-up loaded besides relaystate's twins."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as body:
        body.write(_first_body())
    try:
        for _, script in CASES:  # writes relaystate's bytecode; one untimed sample each
            _sample(script, body.name)
        samples: list[dict[str, list[float]]] = [{"wall": [], "cpu": []} for _ in CASES]
        extra: list[str] = []
        for r in range(rounds):
            for i in range(len(CASES)):
                at = (r + i) % len(CASES)  # the order rotates, round by round
                found = _sample(CASES[at][1], body.name)
                samples[at]["wall"].append(found["wall"])
                samples[at]["cpu"].append(found["cpu"])
                extra = found["extra"] or extra
    finally:
        os.unlink(body.name)
    return samples, extra


def _spread(percents: list[float]) -> str:
    """Median and range of per-round percentages."""
    found = sorted(percents)
    return f"{statistics.median(found):+.0f} % ({found[0]:+.0f} to {found[-1]:+.0f})"


def _ratio(over: list[float], under: list[float]) -> str:
    """Median and range of ``over / under - 1`` round by round, in %."""
    return _spread([100 * (o / u - 1) for o, u in zip(over, under, strict=True)])


def run() -> list[dict[str, Any]]:
    samples, extra = measure()
    boto3, hand = samples[0], samples[3]
    rows = []
    for (label, _), found in zip(CASES, samples, strict=True):
        under = hand if label.startswith("first hop: import boto3 + RelayJob") else boto3
        rows.append(
            {
                "what": label,
                "wall ms (median)": f"{statistics.median(found['wall']):.1f}",
                "wall range": f"{min(found['wall']):.1f}-{max(found['wall']):.1f}",
                "CPU ms (median)": f"{statistics.median(found['cpu']):.1f}",
                "added wall (pairs)": ""
                if found is boto3
                else _ratio(found["wall"], under["wall"]),
                "added CPU (pairs)": "" if found is boto3 else _ratio(found["cpu"], under["cpu"]),
            }
        )
    rows[-1]["what"] += " (added: over the hand-written first hop)"
    own = [  # RelayJob import less the runtime deps, as a share of boto3, round by round
        100 * (o - d) / b
        for o, d, b in zip(samples[2]["cpu"], samples[1]["cpu"], boto3["cpu"], strict=True)
    ]
    rows.insert(
        3,
        dict.fromkeys(rows[0], "")
        | {
            "what": "  relaystate's own modules: RelayJob import less the runtime deps",
            "added CPU (pairs)": _spread(own),
        },
    )
    rows.append(
        dict.fromkeys(rows[0], "")
        | {"what": f"untimed set-up of the in-memory queues also loaded: {', '.join(extra)}"}
    )
    return rows


TITLE = (
    f"cold start: imports and a Lambda's first hop, {ROUNDS} rounds of fresh interpreters "
    "(bytecode compiled), cases interleaved; 'added' is over boto3 alone, pair by pair"
)
