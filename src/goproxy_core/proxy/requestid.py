"""Request ids: the ``X-Request-Id`` of every response, the same id in the access log.

Theory of operation: the core has no randomness and no clock, so it cannot make ids unique
across processes by itself. The frontend makes one :class:`RequestIds` per server with a
prefix that is unique to the process (a few random bytes, chosen once); the core counts. A
client that sends an ``X-Request-Id`` of its own gets it back (and it is the one logged) when
it is short and made of safe characters (:func:`safe_request_id`); otherwise, and for every
request whose head could not be read, the next id of the counter is used. An id never carries
a byte that could split a header or a log line.
"""

from __future__ import annotations

import itertools
import re
from typing import Final

__all__ = ["MAX_REQUEST_ID", "RequestIds", "safe_request_id"]

MAX_REQUEST_ID: Final = 128
"""The longest client-sent ``X-Request-Id`` taken as it is (bytes)."""

# Letters, digits and the punctuation of UUIDs, trace ids (W3C traceparent, AWS X-Ray's
# Root=1-...), base64 and colon-separated forms: nothing that needs quoting in a header, a
# log line or JSON.
_SAFE: Final = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,%d}" % MAX_REQUEST_ID)


def safe_request_id(value: bytes) -> bool:
    """Whether a client-sent id may be echoed and logged as it is: 1 to 128 safe characters."""
    return _SAFE.fullmatch(value) is not None


class RequestIds:
    """The ids of one server's requests: ``prefix`` + a counter in hexadecimal.

    One per server, shared by its connections (as :class:`~goproxy_core.HotReplies` is);
    :meth:`next` is safe from several threads (``itertools.count`` advances under the GIL).

    Args:
        prefix: what makes this process's ids its own (the frontend picks a few random
            characters at start); "" numbers from 1 alone, which is what a
            ``ProxyConnection`` made without ``ids`` uses.

    Raises:
        ValueError: ``prefix`` has a character outside the safe set, or is over 64 long.
    """

    __slots__ = ("_count", "prefix")

    def __init__(self, prefix: str = "") -> None:
        raw = prefix.encode("ascii", "replace")
        if raw and (len(raw) > 64 or not safe_request_id(raw)):
            raise ValueError(f"request id prefix {prefix!r}: want up to 64 of A-Z a-z 0-9 ._:@/+=-")
        self.prefix = raw
        self._count = itertools.count(1)

    def next(self) -> bytes:
        """A new id: the prefix and the next number, such as ``b"3f9a1c2e-1a"``."""
        return b"%s%x" % (self.prefix, next(self._count))

    def choose(self, sent: bytes) -> bytes:
        """The id of a request whose client sent ``sent`` (b"" for none): kept if safe."""
        if sent and _SAFE.fullmatch(sent) is not None:
            return sent
        return b"%s%x" % (self.prefix, next(self._count))
