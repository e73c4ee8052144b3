"""goproxy_sockets: the goproxy server on plain blocking sockets, a thread per connection."""

from __future__ import annotations

from ._server import Server, open_listener, run

__all__ = ["Server", "open_listener", "run"]
