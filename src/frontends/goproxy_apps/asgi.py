"""The proxy as an ASGI 3 application (runs under asyncio or trio servers, through anyio)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio
import anyio.to_thread

from goproxy_core import request_flow, response_head
from goproxy_core.proxy.warm import MAX_WARM_BODY, admin_warm_target
from goproxy_io import REQUEST_ID, Pending, log_access
from goproxy_io.server import SEND_CHUNK, AsyncServerBase, peer_address

from ._record import app_record

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from goproxy_core import CompiledConfig, ProxyConfig, Reply
    from goproxy_core.storage import BlobStore
    from goproxy_io import Fetcher

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

__all__ = ["ASGIApp", "asgi_app"]


def target_of(scope: Scope) -> bytes:
    """The request target as the client sent it, below the application's root path."""
    raw = scope.get("raw_path") or quote(scope.get("path", "/")).encode()
    root = scope.get("root_path", "").encode()
    if root and raw.startswith(root):
        raw = raw[len(root) :] or b"/"
    qs = scope.get("query_string", b"")
    return raw + (b"?" + qs if qs else b"")


class ASGIApp(AsyncServerBase):
    """An ASGI application serving ``store`` with ``config``.

    Args: as :class:`~goproxy_io.server.ServerBase`.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = scope["method"].encode()
        target = target_of(scope)
        headers = [(bytes(k).lower(), bytes(v)) for k, v in scope.get("headers", [])]
        now = time.time()
        started = time.monotonic()
        rid = self.ids.choose(next((v for k, v in headers if k == b"x-request-id"), b""))
        token = REQUEST_ID.set(rid.decode("ascii"))  # for lines logged while it is served
        try:
            body = await self._body(receive, method, target, headers)
            reply = await self._decide(method, target, headers, now, body)
        finally:
            REQUEST_ID.reset(token)
        self.note_use(target, reply.status)
        inm = next((v for k, v in headers if k == b"if-none-match"), b"")
        head = response_head(reply, method=method, if_none_match=inm, now=now, request_id=rid)
        if self.metrics is not None:
            self.metrics.request(
                target, head.status, reply.cache_status, time.monotonic() - started, reply.alarm
            )
        if self.metrics is not None and reply.audit:
            self.metrics.audited(reply.token)
        log_access(
            app_record(method, target, head.status, head.body, reply, started, now, rid),
            client=peer_address(scope.get("client")),
        )
        await send({"type": "http.response.start", "status": head.status, "headers": head.headers})
        if not head.body:
            await send({"type": "http.response.body", "body": b""})
        elif reply.blob is not None:
            await self._send_blob(send, reply.blob.key, reply.blob.size)
        else:
            await send({"type": "http.response.body", "body": reply.body})

    async def _body(
        self, receive: Receive, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]
    ) -> bytes | None:
        """The body of ``POST /admin/warm`` (when on), at most ``MAX_WARM_BODY`` bytes;
        None when longer, or declared longer (a 413: the rest is not read). Other requests'
        bodies are not read."""
        cfg = self.config
        if method != b"POST" or not cfg.config.admin_warm:
            return b""
        if not admin_warm_target(target, cfg.base_path):
            return b""
        declared = next((v for k, v in headers if k == b"content-length"), b"").strip()
        if declared.isdigit() and int(declared) > MAX_WARM_BODY:
            return None
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return bytes(body)  # the client went away: what came
            body += message.get("body", b"")
            if len(body) > MAX_WARM_BODY:
                return None
            if not message.get("more_body", False):
                return bytes(body)

    async def _decide(
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
                effect = flow.send(await self.effects.perform(effect, pending))
        except StopIteration as stop:
            reply: Reply = stop.value
            return reply
        finally:
            self.effects.abandon(pending)

    async def _send_blob(self, send: Send, key: str, size: int) -> None:
        f = await anyio.to_thread.run_sync(self.store.open, key)
        if f is None:
            raise OSError(f"blob {key} vanished while being served")
        try:
            sent = 0
            while sent < size:
                chunk = await anyio.to_thread.run_sync(f.read, min(SEND_CHUNK, size - sent))
                if not chunk:
                    raise OSError(f"blob {key} is shorter than {size} bytes")
                sent += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": sent < size})
        finally:
            f.close()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await anyio.to_thread.run_sync(self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return


def asgi_app(
    store: BlobStore,
    config: ProxyConfig | CompiledConfig,
    fetcher: Fetcher | None = None,
    *,
    tokens_file: str | None = None,
) -> ASGIApp:
    """An ASGI application for the proxy (see :class:`ASGIApp`)."""
    return ASGIApp(store, config, fetcher, tokens_file=tokens_file)
