"""The public facades: what ``from relaystate import *`` gives, pinned (as httpx pins its own)."""

from __future__ import annotations

import pytest

import relaystate


def test_the_top_level_exports_what_a_job_author_needs() -> None:
    expected = [
        "DONE",
        "AwsError",
        "ConfigurationError",
        "InvalidPacketError",
        "InvalidTransitionError",
        "JobState",
        "PacketSigner",
        "PacketTooLargeError",
        "RateLimit",
        "RelayError",
        "RelayJob",
        "RelayPacket",
        "Retry",
        "S3Offload",
        "Sleep",
        "Stats",
        "WaitFor",
    ]
    assert expected == relaystate.__all__


def test_star_import_gives_at_most_twenty_names_and_each_resolves() -> None:
    namespace: dict[str, object] = {}
    exec("from relaystate import *", namespace)
    names = sorted(k for k in namespace if k != "__builtins__")
    assert sorted(relaystate.__all__) == names
    assert len(names) <= 20


def test_the_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    assert version("relaystate") == relaystate.__version__


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        relaystate.NoSuchThing  # noqa: B018
