"""The proxy as a WSGI application (gunicorn, uwsgi, mod_wsgi, or any WSGI container)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from goproxy_core import request_flow, response_head
from goproxy_core.proxy.warm import MAX_WARM_BODY, admin_warm_target
from goproxy_io import REQUEST_ID, Pending, log_access
from goproxy_io.server import SEND_CHUNK, ServerBase

from ._record import app_record

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from goproxy_core import CompiledConfig, ProxyConfig, Reply
    from goproxy_core.storage import BlobStore
    from goproxy_io import Fetcher

    StartResponse = Callable[..., Any]

__all__ = ["WSGIApp", "wsgi_app"]


def target_of(environ: dict[str, Any]) -> bytes:
    """The request target below the application's mount point, re-quoted as sent."""
    # PATH_INFO is decoded (as latin-1 per PEP 3333); quote it back so the core's strict
    # decoding sees what the client sent.
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "surrogateescape")
    target = quote(path or "/", safe="/!@+~-._", errors="surrogateescape").encode()
    qs = environ.get("QUERY_STRING", "")
    return target + (b"?" + qs.encode("latin-1") if qs else b"")


class WSGIApp(ServerBase):
    """A WSGI application serving ``store`` with ``config``.

    Args:
        store: where blobs are kept.
        config: the core's settings.
        fetcher: upstream fetching (default: a new :class:`~goproxy_io.Fetcher`).
    """

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").encode()
        target = target_of(environ)
        headers = [
            (k[5:].replace("_", "-").lower().encode(), str(v).encode("latin-1"))
            for k, v in environ.items()
            if k.startswith("HTTP_")
        ]
        now = time.time()
        started = time.monotonic()
        rid = self.ids.choose(environ.get("HTTP_X_REQUEST_ID", "").encode("latin-1"))
        token = REQUEST_ID.set(rid.decode("ascii"))  # for lines logged while it is served
        try:
            body = self._body(environ, method, target)
            reply = self._decide(method, target, headers, now, body)
        finally:
            REQUEST_ID.reset(token)
        self.note_use(target, reply.status)
        inm = environ.get("HTTP_IF_NONE_MATCH", "").encode("latin-1")
        head = response_head(reply, method=method, if_none_match=inm, now=now, request_id=rid)
        if self.metrics is not None:
            self.metrics.request(
                target, head.status, reply.cache_status, time.monotonic() - started, reply.alarm
            )
        if self.metrics is not None and reply.audit:
            self.metrics.audited(reply.token)
        log_access(
            app_record(method, target, head.status, head.body, reply, started, now, rid),
            client=str(environ.get("REMOTE_ADDR", "")),
        )
        status = f"{head.status} {head.reason.decode()}"
        start_response(status, [(k.decode(), v.decode("latin-1")) for k, v in head.headers])
        if not head.body:
            return [b""]
        if reply.blob is None:
            return [reply.body]
        f = self.store.open(reply.blob.key)
        if f is None:
            raise OSError(f"blob {reply.blob.key} vanished while being served")
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            wrapped: Iterable[bytes] = wrapper(f, SEND_CHUNK)  # lets the server use sendfile
            return wrapped
        return _chunks(f)

    def _body(self, environ: dict[str, Any], method: bytes, target: bytes) -> bytes | None:
        """The body of ``POST /admin/warm`` (when on), at most ``MAX_WARM_BODY`` bytes;
        None when longer (a 413). Other requests' bodies are not read."""
        cfg = self.config
        if method != b"POST" or not cfg.config.admin_warm:
            return b""
        if not admin_warm_target(target, cfg.base_path):
            return b""
        length = str(environ.get("CONTENT_LENGTH") or "0").strip()
        size = int(length) if length.isdigit() else 0
        if size > MAX_WARM_BODY:
            return None
        data: bytes = environ["wsgi.input"].read(size) if size else b""
        return data

    def _decide(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        now: float,
        body: bytes | None = b"",
    ) -> Reply:
        flow = request_flow(
            self.config, method, target, headers, now, body=body, keyring=self.keyring
        )
        pending = Pending()
        try:
            effect = next(flow)
            while True:
                effect = flow.send(self.executor.perform(effect, pending))
        except StopIteration as stop:
            reply: Reply = stop.value
            return reply
        finally:
            self.executor.abandon(pending)


def _chunks(f: Any) -> Iterable[bytes]:
    with f:
        while chunk := f.read(SEND_CHUNK):
            yield chunk


def wsgi_app(
    store: BlobStore,
    config: ProxyConfig | CompiledConfig,
    fetcher: Fetcher | None = None,
    *,
    tokens_file: str | None = None,
) -> WSGIApp:
    """A WSGI application for the proxy (see :class:`WSGIApp`)."""
    return WSGIApp(store, config, fetcher, tokens_file=tokens_file)
