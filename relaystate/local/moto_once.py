"""Installing a patch into this process's moto once: the local endpoints' shared rule.

Example:
    >>> from relaystate.local.moto_once import once
    >>> calls = []
    >>> @once
    ... def install() -> bool:
    ...     calls.append(1)
    ...     return True
    >>> install(), install(), len(calls)
    (True, True, 1)
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

__all__ = ["once"]


def once(install: Callable[[], bool]) -> Callable[[], bool]:
    """Make ``install`` run until it succeeds, once at a time; then answer ``True`` at once.

    ``install`` returns whether it installed (``False``: moto's names are not the ones it
    knows, and it patched nothing -- a later call tries again).
    """
    lock = threading.Lock()
    done = False

    @functools.wraps(install)
    def apply() -> bool:
        nonlocal done
        with lock:
            done = done or install()
            return done

    return apply
