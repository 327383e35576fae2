"""Whether the e2e tier runs, and on which credentials: the gate, and what to set when it is shut.

The tier runs only when ``RELAYSTATE_E2E_REGION`` is set and boto3 finds credentials in one of
these, first found first:

- ``RELAYSTATE_E2E_PROFILE``: a profile of the user's AWS config files (SSO, assume-role and
  static keys all work, as boto3 reads them);
- ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (/ ``AWS_SESSION_TOKEN``) exported before
  pytest started;
- ``AWS_PROFILE`` exported before pytest started.

The root ``tests/conftest.py`` replaces those variables with fakes for every test (nothing else
may reach AWS), so it first hands their real values to :func:`remember`; they are read back here,
and only here, into an explicit :class:`boto3.Session` -- never into the environment. Nothing
else is looked at (no instance or container role): the tier runs on credentials the user named.

Example:
    >>> print(gate({}, {}))  # doctest: +ELLIPSIS
    e2e tier (real AWS, opt-in): set RELAYSTATE_E2E_REGION=<region> ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    import boto3

__all__ = [
    "CREDENTIAL_VARIABLES",
    "PROFILE_VARIABLE",
    "REGION_VARIABLE",
    "Settings",
    "gate",
    "remember",
    "remembered",
]

REGION_VARIABLE = "RELAYSTATE_E2E_REGION"
PROFILE_VARIABLE = "RELAYSTATE_E2E_PROFILE"
#: What the root conftest fakes; their real values are remembered first.
CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
#: The access key the test suite fakes (tests/conftest.py, tox.ini): never real.
FAKE_ACCESS_KEY = "testing"

HOW = (
    f"set {REGION_VARIABLE}=<region> and credentials ({PROFILE_VARIABLE}=<profile>, or "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN] or AWS_PROFILE exported before "
    "pytest) to run it on a real account, where it makes relay-e2e-* resources and deletes them"
)

_remembered: dict[str, str] | None = None


def remember(environ: Mapping[str, str]) -> None:
    """Keep the real values of :data:`CREDENTIAL_VARIABLES` aside, the first time only (the root
    conftest calls this before it replaces them with fakes)."""
    global _remembered
    if _remembered is None:
        _remembered = {k: environ[k] for k in CREDENTIAL_VARIABLES if environ.get(k)}


def remembered() -> dict[str, str]:
    """The real values :func:`remember` kept (empty if it was not called)."""
    return dict(_remembered or {})


@attrs.frozen
class Settings:
    """Where the e2e tier runs: a region, and a session on the user's credentials."""

    region: str
    session: boto3.Session = attrs.field(repr=False)
    #: Where the credentials came from (never the credentials themselves).
    source: str


def gate(environ: Mapping[str, str], real: Mapping[str, str]) -> Settings | str:
    """The settings to run the e2e tier with, or why it is skipped and what to set.

    Args:
        environ: the environment now (``RELAYSTATE_E2E_*``).
        real: the credential variables as they were before the test suite faked them
            (:func:`remembered`).

    Makes no AWS call: boto3 only resolves the credentials (an SSO profile may refresh its
    token).
    """
    region = environ.get(REGION_VARIABLE, "").strip()
    if not region:
        return f"e2e tier (real AWS, opt-in): {HOW}"
    import boto3
    import botocore.exceptions
    import botocore.session

    profile = environ.get(PROFILE_VARIABLE, "").strip()
    key, secret = real.get("AWS_ACCESS_KEY_ID", ""), real.get("AWS_SECRET_ACCESS_KEY", "")
    if not profile and key == FAKE_ACCESS_KEY:
        return f"{REGION_VARIABLE}={region}, but the credentials are the suite's fakes: {HOW}"
    try:
        if profile or (not key and real.get("AWS_PROFILE")):
            profile = profile or real["AWS_PROFILE"]
            core = botocore.session.Session()
            # The user's own files: the suite points the variables at /dev/null.
            for variable, default in (
                ("config_file", real.get("AWS_CONFIG_FILE", "~/.aws/config")),
                ("credentials_file", real.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")),
            ):
                core.set_config_variable(variable, os.path.expanduser(default))
            session = boto3.Session(botocore_session=core, profile_name=profile, region_name=region)
            source = f"profile {profile}"
        elif key and secret:
            session = boto3.Session(
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                aws_session_token=real.get("AWS_SESSION_TOKEN") or None,
                region_name=region,
            )
            source = "AWS_ACCESS_KEY_ID of the environment"
        else:
            return f"{REGION_VARIABLE}={region}, but no credentials: {HOW}"
        found = session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        return f"{REGION_VARIABLE}={region}, but boto3 found no credentials ({exc}): {HOW}"
    if found is None:
        return f"{REGION_VARIABLE}={region}, but {source} holds no credentials: {HOW}"
    return Settings(region=region, session=session, source=source)
