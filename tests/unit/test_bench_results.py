"""``python -m bench NAME`` rewrites its sections of bench/results.md and keeps the rest.

The notes written by hand below a section's table (what was measured, why a figure is what it
is) were lost each time the section was run again.
"""

from __future__ import annotations

from bench.__main__ import _merged

OLD = (
    "# relaystate benchmarks\n\nPython 3.11\n\n"
    "## a\n\n| x |\n|---|\n| 1 |\n\n(1.0 s)\n\nWhy a is 1: measured by hand.\n\n"
    "## b\n\n| y |\n\n(2.0 s)\n"
)


def test_a_section_run_again_keeps_the_notes_below_its_table() -> None:
    merged = _merged(OLD, ["## a\n\n| x |\n|---|\n| 2 |\n\n(3.5 s)\n"])

    assert merged == (
        "# relaystate benchmarks\n\nPython 3.11\n\n"
        "## a\n\n| x |\n|---|\n| 2 |\n\n(3.5 s)\n\nWhy a is 1: measured by hand.\n\n"
        "## b\n\n| y |\n\n(2.0 s)\n"
    )


def test_a_section_without_notes_is_replaced_whole_and_a_new_one_goes_last() -> None:
    merged = _merged(OLD, ["## b\n\n| y |\n| 9 |\n\n(0.1 s)\n", "## c\n\n| z |\n\n(0.2 s)\n"])

    assert merged.endswith("## b\n\n| y |\n| 9 |\n\n(0.1 s)\n\n## c\n\n| z |\n\n(0.2 s)\n")
    assert "Why a is 1: measured by hand." in merged
