"""The e2e tier's gate and its session: deploy once, run, write the report, reap.

Every test in this folder is marked ``e2e`` and skipped -- with what to set as the reason, shown
by ``-ra`` -- unless ``RELAYSTATE_E2E_REGION`` and credentials are set (see
:mod:`tests.e2e.settings`)::

    RELAYSTATE_E2E_REGION=eu-west-1 RELAYSTATE_E2E_PROFILE=sandbox pytest tests/e2e

When it runs, the session deploys once (:mod:`tests.e2e.deploy`), and its finalizer -- after
the last test, and also when the deploy or a test failed -- reads the hop reports into
``tests/e2e/.report/<run id>.json`` and deletes everything whose name begins with the run's
prefix (:mod:`tests.e2e.reap`), plus every job queue the run started, by name. The worker's
log group is kept (one day) when a test failed, for its logs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from relaystate.names import DLQ_SUFFIX
from tests.e2e import bundle, settings
from tests.e2e.account import Connect, LogReports, aws_rig
from tests.e2e.deploy import Deployment, deploy
from tests.e2e.names import Names, log_group
from tests.e2e.reap import Clients, Found, Reaper
from tests.e2e.report import Report
from tests.e2e.rig import Rig

HERE = Path(__file__).parent
_GATE = pytest.StashKey["settings.Settings | str"]()
_FAILED = pytest.StashKey[bool]()
_RIG = pytest.StashKey[Rig]()
#: What the finalizer has to say at the end of the run (the report's path, kept logs).
_SAID = pytest.StashKey[list[str]]()
#: How long the finalizer waits for the last hop reports to reach CloudWatch Logs.
LOGS_SETTLE_S = 60.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this folder's tests ``e2e``; skip them, saying what to set, unless the gate opens.

    (pytest calls this hook with every item of the session, wherever its conftest is.)
    """
    ours = [i for i in items if isinstance(i, pytest.Function) and HERE in i.path.parents]
    if not ours:
        return
    gate = settings.gate(os.environ, settings.remembered())
    config.stash[_GATE] = gate
    for item in ours:
        item.add_marker(pytest.mark.e2e)
        if isinstance(gate, str):
            item.add_marker(pytest.mark.skip(reason=gate))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Note a failed e2e test: the finalizer then keeps the worker's logs."""
    report: pytest.TestReport = yield
    if report.failed and HERE in item.path.parents:
        item.config.stash[_FAILED] = True
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say where the run's report is (and whether logs were kept), after the run."""
    for line in config.stash.get(_SAID, []):
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def e2e(pytestconfig: pytest.Config) -> settings.Settings:
    """The region and the user's session (the gate let the test through)."""
    gate = pytestconfig.stash[_GATE]
    assert isinstance(gate, settings.Settings), gate
    return gate


@pytest.fixture(scope="session")
def deployer(e2e: settings.Settings) -> Connect:
    """Clients on the user's own credentials."""
    return Connect(e2e.session, e2e.region)


@pytest.fixture(scope="session")
def names() -> Names:
    """This run's names (a new run id)."""
    return Names()


@pytest.fixture(scope="session")
def e2e_report(names: Names, e2e: settings.Settings) -> Report:
    """What this run measures, written by the finalizer."""
    return Report(names.run_id, e2e.region)


@pytest.fixture(scope="session")
def deployment(
    pytestconfig: pytest.Config, deployer: Connect, names: Names, e2e_report: Report
) -> Iterator[Deployment]:
    """The run's table, roles and functions; reaped at the end, whatever happened."""
    since_ms = int(time.time() * 1000)
    try:
        made = deploy(deployer, names, bundle.build())
        e2e_report.deployed(made.timings)
        yield made
    finally:
        jobs = dict(pytestconfig.stash[_RIG].jobs) if _RIG in pytestconfig.stash else {}
        try:
            if jobs:
                e2e_report.add_hops(jobs, _settled_hops(deployer, names, since_ms))
        finally:
            said = pytestconfig.stash.setdefault(_SAID, [])
            said.append(f"e2e report: {e2e_report.write()}")
            _reap(deployer, names, jobs, said, keep_logs=pytestconfig.stash.get(_FAILED, False))


@pytest.fixture(scope="session")
def starter(deployer: Connect, deployment: Deployment) -> Connect:
    """Clients on the starter role: what the printed starter policy allows."""
    return deployer.assume(deployment.starter_role_arn, "relay-e2e-starter")


@pytest.fixture(scope="session")
def worker(deployer: Connect, deployment: Deployment) -> Connect:
    """Clients on the worker's execution role: what the printed worker policy allows."""
    return deployer.assume(deployment.worker_role_arn, "relay-e2e-worker")


@pytest.fixture(scope="session")
def rig(
    pytestconfig: pytest.Config, deployment: Deployment, starter: Connect, deployer: Connect
) -> Rig:
    """The scenarios' rig on AWS; the jobs it starts are reaped by name at the end."""
    names = deployment.names
    made = aws_rig(
        starter=starter,
        deployer=deployer,
        function_name=names.worker,
        queue_prefix=names.queue_prefix,
        ledger_table=names.table,
        since_ms=int(time.time() * 1000) - 60_000,
    )
    pytestconfig.stash[_RIG] = made
    return made


def _reap(
    deployer: Connect, names: Names, jobs: dict[str, str], said: list[str], *, keep_logs: bool
) -> None:
    """Delete the run's resources: what a listing finds under its prefix, and -- in case a
    listing lags or fails -- what the run made, by name. The worker's logs are kept (a day)
    when a test failed: they say what went wrong."""
    known = [
        Found("function", names.worker),
        Found("function", names.other),
        Found("queue", names.probe_queue),
        Found("table", names.table),
        Found("role", names.worker),
        Found("role", names.starter),
    ]
    for job_id in jobs:
        queue = f"{names.queue_prefix}{job_id}"
        known += [Found("queue", queue), Found("queue", f"{queue}{DLQ_SUFFIX}")]
    reaper = Reaper(Clients.made_by(deployer), prefix=names.prefix, echo=lambda _: None)
    try:
        listed = reaper.find()
    except Exception as exc:
        said.append(f"e2e: listing {names.prefix}* failed ({exc!r}); deleting by name")
        listed = []
    found = [f for f in [*listed, *known] if f.kind != "log group"]
    if keep_logs:
        said.append(f"e2e: a test failed; its logs stay a day in {log_group(names.worker)}")
    else:
        found.append(Found("log group", log_group(names.worker)))
    done = reaper.reap(found)
    said.append(
        f"e2e: reaped {len(done.deleted)} resource(s) of run {names.run_id} (or found them gone)"
    )
    assert not done.failed, f"the e2e reaper could not delete: {done.failed}"


def _settled_hops(deployer: Connect, names: Names, since_ms: int) -> list[dict[str, Any]]:
    """Every hop report of the run, once CloudWatch Logs has stopped adding to them."""
    reports = LogReports(deployer("logs"), log_group(names.worker), since_ms)
    deadline, found = time.monotonic() + LOGS_SETTLE_S, reports.every("hop")
    while time.monotonic() < deadline:
        time.sleep(10)
        again = reports.every("hop")
        if len(again) == len(found):
            break
        found = again
    return found
