"""What ``LocalLambda.deploy`` serves: a job class's ``handle``, or a handler as it is given.

``deploy(CopyRows)`` serves ``CopyRows.handle`` under the class's ``function_name``;
``deploy("name", CopyRows)`` serves it under another name; ``deploy("name", handler)`` serves
any ``handler(event, context)``. A job class is served on the runtime's backend, as the
module one deploys to AWS serves it on the default one.

Example:
    >>> name, handler = what_to_serve("echo", lambda event, context: event, backend=None)
    >>> name, handler({"ping": 1}, None)
    ('echo', {'ping': 1})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from .registry import Handler

if TYPE_CHECKING:
    from ..job import RelayJob
    from ..ports import Backend

__all__ = ["job_handler", "what_to_serve"]


def what_to_serve(
    target: type[RelayJob] | str,
    handler: Handler | type[RelayJob] | None,
    *,
    backend: Backend | None,
) -> tuple[str, Handler]:
    """The function name and the handler that ``deploy(target, handler)`` means.

    Raises:
        ConfigurationError: no name, no handler, or a handler beside a job class.
    """
    from ..job import RelayJob

    if isinstance(target, type) and issubclass(target, RelayJob):
        if handler is not None:
            raise ConfigurationError(
                "deploy(JobClass) serves JobClass.handle; pass no handler (or use "
                "deploy('name', JobClass) to serve it under another name)"
            )
        if not target.function_name:
            raise ConfigurationError(
                f"{target.__name__} has no function_name to deploy it as; set it on the "
                "class, or use lam.deploy('name', JobClass)"
            )
        return target.function_name, job_handler(target, backend)
    if isinstance(target, str):
        if handler is None:
            raise ConfigurationError(
                f"deploy({target!r}) needs a handler: lam.deploy({target!r}, handler) with "
                "handler(event, context), or a RelayJob subclass"
            )
        if isinstance(handler, type) and issubclass(handler, RelayJob):
            return target, job_handler(handler, backend)
        return target, handler
    raise ConfigurationError(
        f"deploy() takes a RelayJob subclass or a function name, got {target!r}"
    )


def job_handler(job: type[RelayJob], backend: Backend | None) -> Handler:
    """``job.handle`` on ``backend``, as a Lambda handler (named so in tracebacks and logs)."""

    def handler(event: dict[str, Any], context: Any) -> object:
        return job.handle(event, context, backend=backend)

    handler.__qualname__ = f"{job.__qualname__}.handle"
    return handler
