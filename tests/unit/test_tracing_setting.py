"""The environment's tracing setting, read each event from what ``os.environ`` holds.

Unit tier: no OpenTelemetry needed (nothing here is traced).
"""

from __future__ import annotations

import pytest

from relaystate import tracing
from relaystate.tracing import ENV, setting


def test_the_setting_is_the_environments_value_trimmed_and_lower_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, " On ")
    assert "on" == setting()


def test_an_unset_variable_is_no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "1")
    monkeypatch.delenv(ENV)
    assert "" == setting()


def test_a_variable_set_after_an_earlier_read_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert "" == setting()
    monkeypatch.setenv(ENV, "0")
    assert "0" == setting()


def test_an_environment_that_is_a_plain_mapping_is_read_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing.os, "environ", {ENV: "YES"})
    assert "yes" == setting()
