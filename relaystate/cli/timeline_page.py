"""A :class:`~relaystate.cli.timeline_model.Timeline` drawn as one self-contained HTML page.

Everything is inline -- the SVG, its CSS, a few lines of script for the hover details -- and
nothing is fetched: the page opens from a file, offline, and can be mailed. It shows::

    the totals     hops, units, Lambda time used of paid, AWS calls, estimated cost in USD
    the lanes      one per shard: a bar per hop coloured by how it ended; between two bars
                   the gap, coloured by why the shard waited (a retry's delay, a sleep, a
                   wait for a signal, a delayed relay, the queue); a lane of the invocations
                   that failed (timed out, crashed), when a local run had any
    the details    on hover: the hop's times, units, utilization, delay and error

The bars are drawn here, not by the script, so the page reads the same without it; the
script only shows the details. A script error is recorded in the page itself (the body's
``data-script-errors`` count and the ``#script-errors`` list), so that a test that loads the
page in a browser can read it from the DOM; ``data-ready="1"`` says the script ran.

Example:
    >>> Path("timeline.html").write_text(render(timeline))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

from ..pricing import AS_OF, PRICES, REGION, Price
from .output import plural
from .timeline_model import Bar, Gap, Timeline

__all__ = ["OUTCOME_COLOURS", "render"]

#: A bar's colour by how its hop ended.
OUTCOME_COLOURS = {
    "relayed": "#4c78a8",
    "finished": "#54a24b",
    "retrying": "#f58518",
    "failed": "#e45756",
    "finishing": "#72b7b2",
    "sleeping": "#9d755d",
    "waiting": "#b279a2",
}
#: A gap's colour by why the shard waited.
GAP_COLOURS = {
    "retry": "#f58518",
    "sleep": "#9d755d",
    "wait": "#b279a2",
    "delay": "#eeca3b",
    "queue": "#bab0ac",
}
_FAILED_INVOCATION = "#e45756"

_WIDTH = 1120
_LEFT = 130
_RIGHT = 24
_TOP = 30
_LANE = 34
_BAR = 20

_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
h1 code { font-size: 15px; color: #555; }
.sub { color: #555; margin: 0 0 16px; }
.totals { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 18px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; flex: 1 1 150px; }
.card b { display: block; font-size: 18px; }
.card small { color: #666; display: block; max-width: 360px; }
svg { display: block; border: 1px solid #eee; background: #fcfcfc; }
svg text { font-size: 12px; fill: #333; }
svg .tick { stroke: #e6e6e6; }
svg .bar, svg .failed-invocation { stroke: #fff; stroke-width: 0.5; cursor: default; }
svg .bar:hover, svg .gap:hover, svg .failed-invocation:hover { stroke: #000; stroke-width: 1; }
.legend { margin: 10px 0; display: flex; flex-wrap: wrap; gap: 14px; color: #444; }
.legend span::before { content: ""; display: inline-block; width: 12px; height: 12px;
                       margin-right: 5px; vertical-align: -1px; background: var(--c); }
#tip { position: absolute; pointer-events: none; background: #222; color: #fff;
       padding: 6px 9px; border-radius: 4px; white-space: pre; font-size: 12px; }
.notes, footer { color: #666; font-size: 12px; }
footer table { border-collapse: collapse; margin-top: 6px; }
footer td { padding: 1px 10px 1px 0; }
#script-errors { color: #b00; }
"""

# Recorded before anything else runs, so that the page's own DOM says whether it broke.
_ERRORS_JS = """
window.relaystateErrors = [];
window.addEventListener("error", function (event) {
  window.relaystateErrors.push(String(event.message || event));
  var body = document.body;
  if (body) {
    body.setAttribute("data-script-errors", String(window.relaystateErrors.length));
    var list = document.getElementById("script-errors");
    if (list) { list.textContent = window.relaystateErrors.join("\\n"); }
  }
});
"""

_HOVER_JS = """
(function () {
  var tip = document.getElementById("tip");
  document.querySelectorAll("[data-tip]").forEach(function (el) {
    el.addEventListener("mousemove", function (event) {
      tip.textContent = el.getAttribute("data-tip");
      tip.hidden = false;
      tip.style.left = (event.pageX + 14) + "px";
      tip.style.top = (event.pageY + 14) + "px";
    });
    el.addEventListener("mouseleave", function () { tip.hidden = true; });
  });
  var errors = window.relaystateErrors || [];
  document.body.setAttribute("data-script-errors", String(errors.length));
  document.body.setAttribute("data-ready", "1");
})();
"""


def render(timeline: Timeline) -> str:
    """The page, as one HTML document (UTF-8 text).

    Example:
        >>> render(timeline).startswith("<!doctype html>")  # doctest: +SKIP
        True
    """
    title = f"{timeline.job_type} {timeline.job_id}"
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>relaystate timeline: {_e(title)}</title>",
            f"<script>{_ERRORS_JS}</script>",
            f"<style>{_CSS}</style>",
            '</head><body data-script-errors="0">',
            f"<h1>{_e(timeline.job_type)} <code>{_e(timeline.job_id)}</code></h1>",
            f'<p class="sub">{_e(_subtitle(timeline))}</p>',
            _totals(timeline),
            _svg(timeline),
            _legend(timeline),
            *(f'<p class="notes">{_e(note)}</p>' for note in timeline.notes),
            '<div id="tip" hidden></div>',
            '<pre id="script-errors"></pre>',
            _footer(timeline),
            f"<script>{_HOVER_JS}</script>",
            "</body></html>",
            "",
        ]
    )


def _subtitle(timeline: Timeline) -> str:
    wall_s = (timeline.end_ms - timeline.start_ms) / 1000
    return (
        f"{timeline.state} · {plural(timeline.shards, 'shard')} · "
        f"{wall_s:,.1f} s from the first hop's start to the last hop's end · "
        f"read from {timeline.source}"
    )


def _totals(timeline: Timeline) -> str:
    t = timeline.totals
    share = f"{t.used_ms / t.paid_ms:.0%}" if t.paid_ms else "n/a"
    calls = sorted(t.aws_calls.items(), key=lambda kv: (-kv[1], kv[0]))
    top = ", ".join(f"{op} {n}" for op, n in calls[:4]) + (", ..." if len(calls) > 4 else "")
    estimated = " (estimated from the hop records)" if t.estimated else ""
    failed = f", {t.failed_invocations} failed" if t.failed_invocations else ""
    on_record = " (those that left a hop record)" if t.estimated else ""
    by_service: dict[str, float] = {}
    for price, _, usd in t.cost.lines:  # "Lambda requests", "Lambda GB-seconds"...: by service
        service = price.unit.split()[0]
        by_service[service] = by_service.get(service, 0.0) + usd
    cost = " · ".join(f"{service} {_usd(usd)}" for service, usd in by_service.items() if usd)
    cards = [
        ("hops", f"{t.hops:,}", f"{plural(t.invocations, 'invocation')}{failed}{on_record}"),
        ("units", f"{t.units:,}", ""),
        (
            "Lambda time",
            f"{t.used_ms / 1000:,.2f} s of {t.paid_ms / 1000:,.2f} s",
            f"used in step() of the time paid for ({share}), at {t.memory_mb} MB",
        ),
        ("AWS calls", f"{sum(t.aws_calls.values()):,}", top + estimated),
        ("estimated cost", f"${t.cost.total:.6f}", cost or "nothing billable"),
    ]
    return (
        '<section class="totals">'
        + "".join(
            f'<div class="card">{_e(name)}<b>{_e(value)}</b><small>{_e(small)}</small></div>'
            for name, value, small in cards
        )
        + "</section>"
    )


class _Scale:
    """Times (ms since the epoch) to x positions."""

    def __init__(self, start_ms: int, end_ms: int) -> None:
        self.start_ms = start_ms
        self.span_ms = max(end_ms - start_ms, 1)
        self.width = _WIDTH - _LEFT - _RIGHT

    def x(self, ms: float) -> float:
        return _LEFT + (ms - self.start_ms) / self.span_ms * self.width

    def ticks(self) -> list[tuple[float, str]]:
        """About eight ticks at a round step of seconds."""
        span_s = self.span_ms / 1000
        step = next(
            (s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if span_s / s <= 8),
            10 ** math.ceil(math.log10(span_s / 8)),
        )
        count = int(span_s / step) + 1
        return [(self.x(self.start_ms + i * step * 1000), f"{i * step:g} s") for i in range(count)]


def _svg(timeline: Timeline) -> str:
    scale = _Scale(timeline.start_ms, timeline.end_ms)
    lanes = timeline.lanes()
    rows = len(lanes) + (1 if timeline.failed else 0)
    height = _TOP + rows * _LANE + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="hop timeline">'
    ]
    for x, label in scale.ticks():
        parts.append(
            f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP - 6}" y2="{height}"/>'
        )
        parts.append(f'<text x="{x + 3:.1f}" y="{_TOP - 10}">{_e(label)}</text>')
    gaps: dict[int, list[Gap]] = {}
    for gap in timeline.gaps():
        gaps.setdefault(gap.shard, []).append(gap)
    for row, (shard, bars) in enumerate(lanes.items()):
        y = _TOP + row * _LANE
        parts.append(f'<text x="8" y="{y + _BAR - 5}">shard {shard}</text>')
        parts.extend(_gap(scale, gap, y) for gap in gaps.get(shard, ()))
        parts.extend(_bar(scale, bar, y, timeline.start_ms) for bar in bars)
    if timeline.failed:
        y = _TOP + len(lanes) * _LANE
        parts.append(f'<text x="8" y="{y + _BAR - 5}">failed invocations</text>')
        parts.extend(_failed(scale, bar, y, timeline.start_ms) for bar in timeline.failed)
    parts.append("</svg>")
    return "\n".join(parts)


def _bar(scale: _Scale, bar: Bar, y: int, t0: int) -> str:
    x = scale.x(bar.started_ms)
    width = max(scale.x(bar.ended_ms) - x, 2.0)
    colour = OUTCOME_COLOURS.get(bar.outcome, "#888")
    lines = [
        f"shard {bar.shard} · hop {bar.hop} · {bar.outcome}",
        f"{_s(bar.started_ms - t0)} to {_s(bar.ended_ms - t0)} ({_s(bar.duration_ms)})",
        f"{bar.units:,} units · {_s(bar.work_ms)} in step() · utilization {bar.utilization:.0%}",
    ]
    if bar.delay_s:
        lines.append(f"delay before the next hop: {bar.delay_s} s")
    if bar.error:
        lines.append(f"error: {bar.error}")
    tip = "\n".join(lines)
    return (
        f'<rect class="bar outcome-{_e(bar.outcome)}" x="{x:.1f}" y="{y}" width="{width:.1f}" '
        f'height="{_BAR}" rx="2" fill="{colour}" data-shard="{bar.shard}" data-hop="{bar.hop}" '
        f'data-tip="{_e(tip)}"><title>{_e(tip)}</title></rect>'
    )


def _gap(scale: _Scale, gap: Gap, y: int) -> str:
    x = scale.x(gap.start_ms)
    width = max(scale.x(gap.end_ms) - x, 1.0)
    tip = f"shard {gap.shard}: {_s(gap.end_ms - gap.start_ms)} {gap.why}"
    return (
        f'<rect class="gap gap-{gap.kind}" x="{x:.1f}" y="{y + _BAR / 2 - 3}" '
        f'width="{width:.1f}" height="6" fill="{GAP_COLOURS[gap.kind]}" opacity="0.75" '
        f'data-tip="{_e(tip)}"><title>{_e(tip)}</title></rect>'
    )


def _failed(scale: _Scale, bar: Bar, y: int, t0: int) -> str:
    x = scale.x(bar.started_ms)
    width = max(scale.x(bar.ended_ms) - x, 2.0)
    tip = (
        f"{bar.outcome} at {_s(bar.started_ms - t0)} after {_s(bar.duration_ms)}: SQS delivers "
        f"its packet again{': ' + bar.error if bar.error else ''}"
    )
    return (
        f'<rect class="failed-invocation" x="{x:.1f}" y="{y}" width="{width:.1f}" '
        f'height="{_BAR}" rx="2" fill="{_FAILED_INVOCATION}" opacity="0.55" '
        f'data-tip="{_e(tip)}"><title>{_e(tip)}</title></rect>'
    )


def _legend(timeline: Timeline) -> str:
    outcomes = {bar.outcome for bar in timeline.bars}
    kinds = {gap.kind for gap in timeline.gaps()}
    items = [(name, c) for name, c in OUTCOME_COLOURS.items() if name in outcomes]
    items += [(f"gap: {name}", c) for name, c in GAP_COLOURS.items() if name in kinds]
    if timeline.failed:
        items.append(("failed invocation", _FAILED_INVOCATION))
    return '<div class="legend">' + "".join(_swatch(name, c) for name, c in items) + "</div>"


def _swatch(name: str, colour: str) -> str:
    return f'<span style="--c: {colour}">{_e(name)}</span>'


def _footer(timeline: Timeline) -> str:
    rows: Iterable[str] = (
        f"<tr><td>{_e(p.unit)}</td><td>{_e(_price(p))}</td><td>{_e(p.source)}</td></tr>"
        for p in PRICES
    )
    return (
        f"<footer>Estimated cost: AWS list prices for {REGION} as of {AS_OF} (free tiers not "
        "subtracted; items taken as at most 1 KB written, 4 KB read; the Lambda service's "
        "receive and delete of each delivered message counted as two SQS requests). Prices "
        "change: check the pages below."
        f"<table>{''.join(rows)}</table></footer>"
    )


def _price(price: Price) -> str:
    """``$0.2 per 1,000,000``; ``$0.0000166667 each``."""
    usd = f"{price.usd:.10f}".rstrip("0").rstrip(".")
    return f"${usd} " + ("each" if price.per == 1 else f"per {price.per:,}")


def _usd(usd: float) -> str:
    """Dollars to the millionth (less than that: ``< $0.000001``)."""
    return f"${usd:.6f}" if usd >= 0.000001 else "< $0.000001"


def _s(ms: float) -> str:
    """Milliseconds as seconds, for people."""
    return f"{ms / 1000:,.2f} s"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
