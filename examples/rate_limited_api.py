"""Call a rate-limited API many times, paced to stay under its limit across hops.

Run it (no AWS account needed; the job runs on the local Lambda runtime)::

    python examples/rate_limited_api.py

The story is Amazon SES: a new account may send 14 mails a second, and each call above that
fails with "Maximum sending rate exceeded". Here a small HTTP service on 127.0.0.1 plays SES:
it accepts at most 14 calls in any one second and answers 429 to the rest. :class:`SendMails`
sends 100 mails through it, one a unit, with a 2-second function timeout.

What it shows:

* **A rate limit that holds across hops.** ``rate_limit = RateLimit(per_second=14)`` makes the
  hop take a permit before every unit, waiting for it if need be. The pacer's state (when the
  next permit is due) travels in the packet, so the next hop goes on at the same pace instead
  of starting with a burst. Times are wall-clock: the next hop may run on another machine.
* **Headroom.** The service counts calls when they arrive, and sending and arriving are a few
  milliseconds apart, never exactly the same each time: pacing right at 14 a second would let
  jitter squeeze a 15th call into some second. ``headroom=0.1`` paces 10 % under the limit.
* **A rejected call is not lost.** Were a call refused anyway, the cursor stays where it was,
  so the next unit (with a permit of its own) sends that mail again.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from relaystate import DONE, RateLimit, RelayJob
from relaystate.local import LocalLambda
from relaystate.local.consistency import Consistency
from relaystate.local.latency import Latency

#: What the service accepts: calls in any one second (SES's default sending rate).
LIMIT_PER_S = 14


class SendMails(RelayJob):
    """Send ``data["mails"]`` mails through the API at ``data["api"]``, one a unit.

    ``data``: ``api`` (the service's URL) and ``mails`` (how many).
    """

    function_name = "send-mails-worker"
    rate_limit = RateLimit(per_second=LIMIT_PER_S, headroom=0.1)

    def plan(self) -> int:
        if "api" not in self.data or self.data.get("mails", 0) < 1:
            raise ValueError('SendMails needs data {"api": "<url of the mail API>", "mails": n}')
        return 0  # the number of the next mail to send

    def step(self, cursor: int) -> Any:
        assert self.packet is not None
        mail = {"to": f"user-{cursor}@example.com", "hop": self.packet.hop}
        if not call_api(self.data["api"], mail):
            return cursor  # refused: the next unit sends this mail again
        return DONE if cursor + 1 >= self.data["mails"] else cursor + 1


def call_api(url: str, payload: dict[str, Any]) -> bool:
    """POST ``payload`` to ``url``: ``True`` if accepted, ``False`` if rate-limited (429)."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return True
    except urllib.error.HTTPError as exc:
        with exc:
            if exc.code == 429:
                return False
            raise


class FakeMailApi:
    """An HTTP service on 127.0.0.1 that accepts at most ``limit`` calls in any one second.

    ``accepted`` holds the arrival time of every accepted call, ``rejected`` counts the 429s,
    ``hops`` the hops the calls came from (a payload's ``hop``).
    """

    def __init__(self, limit: int = LIMIT_PER_S) -> None:
        self.limit = limit
        self.accepted: list[float] = []
        self.rejected = 0
        self.hops: set[int] = set()
        self._window: deque[float] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/send"

    def admit(self) -> bool:
        """Count one call now; ``False`` if it is over the limit."""
        with self._lock:
            now = time.monotonic()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.limit:
                self.rejected += 1
                return False
            self._window.append(now)
            self.accepted.append(now)
            return True

    def busiest_second(self) -> int:
        """The most calls accepted in any one-second window."""
        times, most, first = self.accepted, 0, 0
        for last, t in enumerate(times):
            while times[first] <= t - 1.0:
                first += 1
            most = max(most, last - first + 1)
        return most

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                ok = api.admit()
                if ok and isinstance(payload.get("hop"), int):
                    api.hops.add(payload["hop"])
                body = b'{"MessageId": "m"}' if ok else b'{"Error": "Throttling"}'
                self.send_response(200 if ok else 429)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the terminal quiet

        return Handler

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@dataclass(frozen=True)
class Sent:
    """What :func:`run` found after the job."""

    mails: int  # mails to send
    accepted: int  # calls the API accepted
    rejected: int  # calls the API refused with 429 (expect 0)
    limit: int
    busiest_second: int  # most calls accepted in one second (at most ``limit``)
    rate_per_s: float  # accepted calls per second, first to last
    hops: int  # hops that made calls
    left_over: list[str]


def run(
    mails: int = 100,
    *,
    timeout_s: float = 2.0,
    latency: str | Latency | None = None,
    consistency: str | Consistency | None = None,
) -> Sent:
    """Send ``mails`` mails through a :class:`FakeMailApi` with :class:`SendMails`.

    ``latency`` and ``consistency``: AWS's, on the local runtime (see LocalLambda).
    """
    with (
        FakeMailApi(LIMIT_PER_S) as api,
        LocalLambda(timeout_s=timeout_s, latency=latency, consistency=consistency) as lam,
    ):
        lam.deploy(SendMails)
        SendMails(data={"api": api.url, "mails": mails}, backend=lam.backend).start()
        lam.run_until_idle(timeout_s=60 + 2 * mails / LIMIT_PER_S)
        times = api.accepted
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return Sent(
            mails=mails,
            accepted=len(times),
            rejected=api.rejected,
            limit=api.limit,
            busiest_second=api.busiest_second(),
            rate_per_s=(len(times) - 1) / span if span else 0.0,
            hops=len(api.hops),  # an invocation killed after its relay still made its hop
            left_over=lam.left_over(),
        )


def main() -> int:
    result = run()
    print(
        f"sent {result.accepted} of {result.mails} mails in {result.hops} hops at "
        f"{result.rate_per_s:.1f}/s (limit {result.limit}/s, busiest second "
        f"{result.busiest_second}); rejected: {result.rejected}; "
        f"left over: {', '.join(result.left_over) or 'none'}"
    )
    ok = result.accepted == result.mails and not result.rejected and not result.left_over
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
