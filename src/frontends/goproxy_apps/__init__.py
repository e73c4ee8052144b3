"""goproxy_apps: the proxy as an ASGI or a WSGI application, over the same core.

Mount it in uvicorn, hypercorn, gunicorn or an existing web application::

    from goproxy_apps import asgi_app, wsgi_app
    from goproxy_core import ProxyConfig
    from goproxy_stores import DiskStore

    app = asgi_app(DiskStore("/var/cache/goproxy"), ProxyConfig(upstream="https://proxy.example"))

The server parses HTTP; the core makes every protocol decision, as in the standalone servers.
"""

from __future__ import annotations

from .asgi import ASGIApp, asgi_app
from .wsgi import WSGIApp, wsgi_app

__all__ = ["ASGIApp", "WSGIApp", "asgi_app", "wsgi_app"]
