"""``HotReplies``: whole answers to repeated requests for immutable files, shared by connections.

Theory of operation: a cached ``.info``, ``.mod`` or ``.zip`` never changes, so once one has
been answered from the store, the bytes of that answer are kept (:class:`HotReply`, split
around its Date field) under the request's method and target. A ``ProxyConnection`` that reads
the same simple request again (the fast path, no ``If-None-Match``) writes those bytes with a
new Date and X-Request-Id without running the engine; a zip's body is still sent from the
store. :meth:`HotReplies.remember` decides which answers qualify.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec

from .fastpath import head_bytes
from .replies import IMMUTABLE
from .request import ResponseHead

if TYPE_CHECKING:
    from .replies import Reply

__all__ = ["HotReplies", "HotReply"]

_MAX_BODY: Final = 16 * 1024
_HIT: Final = "goproxy; hit"  # only answers read from the store go into the table


class HotReply(msgspec.Struct, frozen=True):
    """A complete answer to a repeated request for an immutable file.

    The response is ``before`` + the Date and X-Request-Id fields + ``after`` (the rest of the
    head, the blank line and a small body), then, for a stored zip, the blob ``blob_key`` of
    ``length`` bytes.
    """

    before: bytes
    after: bytes
    status: int
    length: int
    cache_status: str
    blob_key: str = ""


class HotReplies:
    """Whole answers to repeated requests for immutable small files, shared by connections.

    A cached ``.info``, ``.mod`` or ``.zip`` never changes, so once answered from the store,
    the same request (method and target, no ``If-None-Match``) is answered again from here
    without running the engine: only the Date and X-Request-Id fields are new (a zip's body
    is still sent from the store, ``SendBlob``; if that fails, its entry is dropped). One
    table per server and store, handed to each :class:`~goproxy_core.ProxyConnection`. Not
    used under ``retracted = "gone"``, where a version's answer turns into a 410 once a newer
    go.mod retracts it.

    Args:
        max_bytes: the table's budget; past it, the table starts again empty (an answer is
            rebuilt in microseconds).
    """

    def __init__(self, max_bytes: int = 16 << 20) -> None:
        self.max_bytes = max_bytes
        self._items: dict[tuple[bytes, bytes], HotReply] = {}
        self._size = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, method: bytes, target: bytes) -> HotReply | None:
        """The answer kept for ``method`` and ``target``, or None."""
        return self._items.get((method, target))

    def clear(self) -> None:
        """Forget every answer (stored files were moved away behind the server's back)."""
        self._items = {}
        self._size = 0

    def drop(self, method: bytes, target: bytes) -> None:
        """Forget the answer for ``method`` and ``target`` (its blob may be gone)."""
        self._items.pop((method, target), None)

    def put(self, method: bytes, target: bytes, hot: HotReply) -> None:
        """Keep ``hot`` as the answer for ``method`` and ``target``."""
        if self._size > self.max_bytes:
            self._items = {}
            self._size = 0
        self._items[(method, target)] = hot
        self._size += len(hot.before) + len(hot.after) + len(target)

    def remember(self, method: bytes, target: bytes, reply: Reply, head: ResponseHead) -> None:
        """Keep the answer just written, if it is one that may be repeated.

        Args:
            method: the request method.
            target: the request target as sent.
            reply: the engine's reply.
            head: its response head, as written.
        """
        if not (
            reply.status == 200
            and reply.cache_control == IMMUTABLE
            and reply.cache_status == _HIT
            and len(reply.body) <= _MAX_BODY
        ):
            return
        names = [k for k, _ in head.headers]
        if b"date" not in names:
            return
        i = names.index(b"date")
        first = ResponseHead(head.status, head.reason, head.headers[:i], False)
        before = head_bytes(first)[:-2]  # without the blank line
        # The request's own id follows the date (``response_head``): new for every request.
        after = i + 2 if b"x-request-id" in names[i + 1 : i + 2] else i + 1
        rest = b"".join(k + b": " + v + b"\r\n" for k, v in head.headers[after:]) + b"\r\n"
        if reply.blob is not None:
            size = reply.blob.size if head.body else 0
            key = reply.blob.key if head.body else ""
            hot = HotReply(before, rest, head.status, size, reply.cache_status, key)
        else:
            body = reply.body if head.body else b""
            hot = HotReply(before, rest + body, head.status, len(body), reply.cache_status)
        self.put(method, target, hot)
