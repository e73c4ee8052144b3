"""goproxy_trio: the default goproxy server, on trio."""

from __future__ import annotations

from ._server import Server, open_listener, run, serve

__all__ = ["Server", "open_listener", "run", "serve"]
