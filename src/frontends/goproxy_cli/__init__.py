"""goproxy_cli: the ``goproxy`` command."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (:func:`goproxy_cli.main.main`), holding SIGTERM, SIGINT (and SIGHUP)
    from the very start, before the imports, so that an early one is not lost."""
    from . import _early

    _early.hold()
    from .main import main as run

    return run(argv)
