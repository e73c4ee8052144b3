"""Signals that arrive while ``goproxy serve`` starts up: held, then handed to the server.

Start-up (imports, asking the go command for its defaults, opening the store) takes a good
part of a second; with Python's default handlers a SIGTERM in that time would kill the
process before the server's own handler is in place, so nothing would be drained or reported.
:func:`hold` is the first thing the command does; the server replays what was held once it
catches signals itself (:func:`replay`), so an early SIGTERM drains and exits 0 as a late one
does. Commands other than ``serve`` :func:`release` them to the defaults.

SIGHUP is held too: a server with TLS catches it once it serves (a reload, harmless: the files
were read at start), one without gets the default action back first (:func:`replay`), so a
held SIGHUP ends it as it always did.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

__all__ = ["held", "hold", "release", "replay"]

held: list[int] = []
_CAUGHT = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _note(sig: int, _frame: FrameType | None) -> None:
    held.append(sig)


def hold() -> None:
    """From now on SIGTERM and SIGINT are noted, not acted on."""
    for sig in _CAUGHT:
        signal.signal(sig, _note)


def replay(*, hup_caught: bool = False) -> None:
    """Send this process the first held signal again (its handler is the server's by now).

    ``hup_caught``: the server catches SIGHUP itself; else SIGHUP's default action is back
    first. A held SIGHUP is sent again too.
    """
    if not hup_caught:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    hup = signal.SIGHUP in held
    stop = [s for s in held if s != signal.SIGHUP]
    held.clear()
    if hup:
        os.kill(os.getpid(), signal.SIGHUP)
    if stop:
        os.kill(os.getpid(), stop[0])


def release() -> None:
    """Back to the default handlers; a held signal then acts as it would have."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    replay()  # SIGHUP's default is back there
