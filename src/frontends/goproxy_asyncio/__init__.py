"""goproxy_asyncio: the goproxy server on an asyncio event loop (a protocol per connection)."""

from __future__ import annotations

from ._server import Server, open_listener, run, serve

__all__ = ["Server", "open_listener", "run", "serve"]
