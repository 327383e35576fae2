"""Keep a process's AWS calls on this machine while a LocalLambda is open.

A handler deployed with ``lam.deploy("name", handler)`` is the code one deploys: it makes its
own clients (``boto3.client("sqs")``) or leaves relaystate to make them. While a LocalLambda
is open, every such client reaches its endpoint, with fake credentials, and nothing leaves the
machine::

    endpoints     AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SQS|DYNAMODB|LAMBDA|S3> name the
                  endpoint of the newest LocalLambda still open: boto3 reads them when a
                  client is made
    credentials   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are fake; session tokens, the
                  profile and the config and credentials files are hidden, so that no real
                  credentials are ever found
    region        AWS_REGION and AWS_DEFAULT_REGION are the LocalLambda's (moto keeps a
                  region's queues apart)
    session       boto3's default session is dropped, so ``boto3.client()`` makes a fresh one
                  from these variables (an older one keeps the credentials it resolved)
    guard         every HTTP request botocore sends (``URLLib3Session.send``) is checked: one
                  to a host that is not loopback (nor the endpoint a LocalLambda was given) is
                  refused with :class:`~relaystate.local.errors.OffMachineRequestError`; every
                  request is counted by host for every open LocalLambda
                  (``lam.hosts_contacted``); one made by an invocation that was killed raises
                  :class:`~relaystate.local.trace.FunctionKilled`, as the LocalLambda's own
                  clients do

When the last LocalLambda closes, the variables and boto3's default session are restored as
they were. A client made while a LocalLambda was open keeps pointing at its endpoint; one made
before it opened keeps pointing where it did, and is refused if that is AWS. Only botocore is
guarded: other HTTP libraries are not.

Example:
    >>> c = confine("http://127.0.0.1:5000", "us-east-1")  # doctest: +SKIP
    >>> os.environ["AWS_ENDPOINT_URL_SQS"]  # doctest: +SKIP
    'http://127.0.0.1:5000'
    >>> c.release()  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import ipaddress
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import attrs

from . import trace
from .errors import OffMachineRequestError

__all__ = ["Confinement", "confine", "is_loopback"]

#: The variables boto3 reads an endpoint from: all services, then one per service served.
_ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_ENDPOINT_URL_S3",
)
#: Where real credentials or another endpoint could come from: hidden while confined.
_HIDDEN_VARIABLES = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
_FAKE = "testing"


@attrs.define(eq=False)
class Confinement:
    """One open LocalLambda's hold on the process (made by :func:`confine`).

    Attributes:
        endpoint_url: where the AWS clients made while it is the newest go.
        region: their region.
        allowed_hosts: hosts besides loopback that may be reached (the endpoint's, if the
            LocalLambda was given one elsewhere).
    """

    endpoint_url: str
    region: str
    allowed_hosts: frozenset[str] = frozenset()
    _contacted: collections.Counter[str] = attrs.field(factory=collections.Counter, init=False)

    @property
    def contacted(self) -> collections.Counter[str]:
        """HTTP requests botocore sent while this was held, by ``host:port`` (a copy)."""
        with _lock:
            return collections.Counter(self._contacted)

    def release(self) -> None:
        """Give the process back (restored once no LocalLambda holds it); idempotent."""
        with _lock:
            if self not in _open:
                return
            _open.remove(self)
            if _open:
                _apply(_open[-1])
            else:
                _restore()


_lock = threading.RLock()
_open: list[Confinement] = []
#: The process as it was before the first confinement: variables (None: unset), session.
_saved_environ: dict[str, str | None] = {}
_saved_session: list[Any] = []
_guard_installed = False


def confine(endpoint_url: str, region: str) -> Confinement:
    """Point this process's new AWS clients at ``endpoint_url`` and guard what botocore sends.

    Args:
        endpoint_url: the LocalLambda's endpoint (SQS, DynamoDB, Lambda and S3 are sent there).
        region: the region clients are made in.

    Returns:
        The :class:`Confinement`; :meth:`Confinement.release` gives the process back.
    """
    host = urlsplit(endpoint_url).hostname or ""
    held = Confinement(
        endpoint_url=endpoint_url,
        region=region,
        allowed_hosts=frozenset() if is_loopback(host) else frozenset({host}),
    )
    with _lock:
        _install_guard()
        if not _open:
            _save()
        _open.append(held)
        _apply(held)
    return held


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost`` (and ``*.localhost``) or a
    loopback address. No name is looked up: a lookup could itself leave the machine.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("sqs.amazonaws.com")
        (True, True, False)
    """
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _variables(held: Confinement) -> dict[str, str | None]:
    found: dict[str, str | None] = dict.fromkeys(_ENDPOINT_VARIABLES, held.endpoint_url)
    found.update(dict.fromkeys(_HIDDEN_VARIABLES))
    found.update(
        AWS_ACCESS_KEY_ID=_FAKE,
        AWS_SECRET_ACCESS_KEY=_FAKE,
        AWS_REGION=held.region,
        AWS_DEFAULT_REGION=held.region,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return found


def _save() -> None:
    import boto3

    _saved_environ.clear()
    for name in _variables(Confinement("", "")):
        _saved_environ[name] = os.environ.get(name)
    _saved_session[:] = [boto3.DEFAULT_SESSION]


def _apply(held: Confinement) -> None:
    import boto3

    _set_environ(_variables(held))
    boto3.DEFAULT_SESSION = None


def _restore() -> None:
    import boto3

    _set_environ(_saved_environ)
    boto3.DEFAULT_SESSION = _saved_session[0] if _saved_session else None
    _saved_environ.clear()
    _saved_session.clear()


def _set_environ(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# -- the guard -----------------------------------------------------------------------------------


def _install_guard() -> None:
    """Wrap botocore's HTTP send once per process; it checks only while a confinement is held
    (and, in an invocation, whether it was killed)."""
    global _guard_installed
    if _guard_installed:
        return
    from botocore.httpsession import URLLib3Session

    send = URLLib3Session.send

    def guarded_send(self: Any, request: Any) -> Any:
        if trace.current_scope() is not None:
            trace.check_alive()
        if _open:
            proxies = getattr(self, "_proxy_config", None)  # botocore's; absent: no proxy known
            proxy_url = proxies.proxy_url_for(request.url) if proxies is not None else None
            _check(request.method, request.url, proxy_url)
        return send(self, request)

    URLLib3Session.send = guarded_send  # type: ignore[method-assign]
    _guard_installed = True


def _check(method: str, url: str, proxy_url: str | None) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    through = (urlsplit(proxy_url).hostname or "") if proxy_url else ""
    with _lock:
        held = list(_open)
        allowed = frozenset().union(*(h.allowed_hosts for h in held))
        for h in held:
            h._contacted[parts.netloc] += 1
    if (is_loopback(host) or host in allowed) and (
        not through or is_loopback(through) or through in allowed
    ):
        return
    where = f"{parts.scheme}://{parts.netloc}{parts.path}"
    via = f" through the proxy {through}" if through else ""
    endpoint = held[-1].endpoint_url if held else "its endpoint"
    raise OffMachineRequestError(
        f"LocalLambda refused {method} {where}{via}: it would leave this machine, and while a "
        f"LocalLambda is open AWS calls go to its endpoint {endpoint} only. Make the client "
        "inside the handler (or after the LocalLambda opened) and without endpoint_url: boto3 "
        f"then reads AWS_ENDPOINT_URL, which is {endpoint}; or pass "
        "endpoint_url=lam.endpoint_url, or use lam.backend"
    )
