"""goproxy_trio: the default goproxy server, on trio."""

from __future__ import annotations

from ._server import Listener, Server, open_listener, run, serve

__all__ = ["Listener", "Server", "open_listener", "run", "serve"]
