"""Hypothesis strategies for the fuzz tests: HTTP/1.x requests, good, odd and broken.

A case is a list of :class:`Req` (pipelined on one connection), optional trailing garbage, and
the split points at which the bytes are handed over. ``check_replies`` reads back what a server
sent and checks that it is a run of whole, valid HTTP responses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import h11
from hypothesis import strategies as st

MOD = "example.com/fz"

# Targets a Go module proxy sees, and a few it should not.
GOOD_TARGETS = [
    f"/{MOD}/@v/list",
    f"/{MOD}/@v/v1.0.0.info",
    f"/{MOD}/@v/v1.0.0.mod",
    f"/{MOD}/@v/v1.0.0.zip",
    f"/{MOD}/@latest",
    f"/{MOD}/@v/v1.1.0.info",
    "/example.com/!upper/@v/list",
    "/example.com/absent/@v/v0.1.0.mod",
    "/healthz",
    "/sumdb/sum.test/supported",
    "/sumdb/sum.test/latest",
    "/sumdb/sum.test/lookup/example.com/fz@v1.0.0",
    "/sumdb/sum.test/tile/8/0/000",
    "/",
    "*",
    "http://proxy.test/example.com/fz/@v/list",
]

METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"OPTIONS", b"get", b"DELETE", b"CONNECT", b"G\x00T"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.2", b"HTTP/1", b"http/1.1", b""]


@dataclass
class Req:
    """One request as sent, and the method to read its response with."""

    raw: bytes
    method: bytes


def _mutate(target: str, edits: list[tuple[int, int, bytes]]) -> bytes:
    b = bytearray(target.encode())
    for pos, cut, ins in edits:
        p = pos % (len(b) + 1)
        b[p : p + cut] = ins
    return bytes(b)


_INSERTS = st.sampled_from(
    [
        b"%",
        b"%2e",
        b"%2F",
        b"%00",
        b"%zz",
        b"%e9",
        b"!",
        b"!!",
        b"..",
        b"/",
        b"@",
        b"@v",
        b"~",
        b"\x7f",
        b"\xff",
        b" ",
        b"\t",
        b"?",
        b"?a=b",
        b"#",
        b"v1.0.0",
        b".zip",
        b"A",
        b"\\",
    ]
) | st.binary(max_size=4)


# Edits that keep a request line well formed: printable ASCII, no space.
_TAME_INSERTS = st.sampled_from(
    [
        b"%",
        b"%2e",
        b"%2F",
        b"%00",
        b"%zz",
        b"%e9",
        b"!",
        b"!!",
        b"..",
        b"/",
        b"@",
        b"@v",
        b"~",
        b"?a=b",
        b"v1.0.0",
        b".zip",
        b"A",
        b"\\",
        b"@latest",
        b"+incompatible",
        b"-0.2024",
    ]
) | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=3).map(str.encode)


@st.composite
def targets(draw: st.DrawFn, wild: bool = True) -> bytes:
    """A target from ``GOOD_TARGETS``, as is or edited; ``wild``: with any bytes at all."""
    base = draw(st.sampled_from(GOOD_TARGETS))
    if draw(st.integers(0, 3)) == 0:
        return base.encode()
    if draw(st.integers(0, 30)) == 0:
        return b"/" + b"a" * draw(st.sampled_from([1000, 4096, 9000, 20000]))
    inserts = _INSERTS if wild else _TAME_INSERTS
    edits = draw(
        st.lists(st.tuples(st.integers(0, 80), st.integers(0, 3), inserts), min_size=1, max_size=3)
    )
    return _mutate(base, edits)


_NAME = st.sampled_from(
    [
        b"Host",
        b"host",
        b"User-Agent",
        b"Accept-Encoding",
        b"If-None-Match",
        b"Connection",
        b"X-Thing",
        b"Cache-Control",
        b"Range",
        b"Upgrade",
        b"TE",
        b"Expect",
        b"Bad Name",
        b"X\x00",
        b"",
        b":authority",
        b"Trailer",
    ]
)
_VALUE = st.sampled_from(
    [
        b"p",
        b"close",
        b"keep-alive",
        b"Keep-Alive, Upgrade",
        b"h2c",
        b"100-continue",
        b"*",
        b'"x"',
        b'W/"y"',
        b"gzip",
        b"bytes=0-1",
        b"",
        b"a\x00b",
        b"\xe9t\xe9",
        b" spaced ",
        b"x" * 300,
        b"trailers",
    ]
) | st.binary(max_size=12)


_TAME_NAME = st.sampled_from(
    [
        b"User-Agent",
        b"Accept-Encoding",
        b"If-None-Match",
        b"Connection",
        b"X-Thing",
        b"Range",
        b"Cache-Control",
        b"Accept",
        b"Disable-Module-Fetch",
        b"Go-Import",
    ]
)
_TAME_VALUE = st.sampled_from(
    [
        b"close",
        b"keep-alive",
        b"*",
        b'"x"',
        b'W/"y"',
        b"gzip",
        b"bytes=0-1",
        b"",
        b"true",
        b"Go-http-client/1.1",
        b"no-cache",
        b"x" * 300,
    ]
) | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=10).map(str.encode)


@st.composite
def requests(draw: st.DrawFn) -> Req:
    """One request: a quarter wild (any bytes anywhere), the rest well framed with odd parts."""
    wild = draw(st.integers(0, 3)) == 0
    method = draw(st.sampled_from([b"GET", b"HEAD"]))
    if wild and draw(st.booleans()):
        method = draw(st.sampled_from(METHODS) | st.binary(min_size=1, max_size=6))
    elif draw(st.integers(0, 10)) == 0:
        method = draw(st.sampled_from([b"POST", b"PUT", b"OPTIONS", b"DELETE", b"get"]))
    target = draw(targets(wild))
    version = b"HTTP/1.1"
    if draw(st.integers(0, 7)) == 0:
        version = draw(st.sampled_from(VERSIONS if wild else [b"HTTP/1.0", b"HTTP/1.1"]))
    eol = b"\n" if wild and draw(st.integers(0, 3)) == 0 else b"\r\n"
    line = method + b" " + target + (b" " + version if version else b"") + eol
    headers: list[bytes] = []
    if not wild or draw(st.integers(0, 6)):
        headers.append(b"Host: p")
    pairs = st.tuples(_NAME, _VALUE) if wild else st.tuples(_TAME_NAME, _TAME_VALUE)
    for name, value in draw(st.lists(pairs, max_size=4)):
        sep = draw(st.sampled_from([b": ", b":", b" : ", b":\t"] if wild else [b": ", b":"]))
        headers.append(name + sep + value)
    if wild and draw(st.integers(0, 5)) == 0:
        headers.append(b" folded continuation")
    if draw(st.integers(0, 40)) == 0:
        headers += [b"X-%d: v" % i for i in range(draw(st.sampled_from([101, 300, 2000])))]
    body = b""
    kind = draw(st.integers(0, 9 if wild else 30))
    if kind == 0:
        body = draw(st.binary(max_size=20))
        headers.append(b"Content-Length: %d" % len(body))
    elif kind == 1:
        body = draw(st.binary(max_size=20))
        headers.append(b"Transfer-Encoding: chunked")
        if draw(st.booleans()):
            body = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    elif kind == 2:
        headers.append(b"Content-Length: " + draw(st.sampled_from([b"-1", b"x", b"1, 2", b""])))
    raw = line + b"".join(h + eol for h in headers) + eol + body
    return Req(raw, method)


@dataclass
class Case:
    reqs: list[Req]
    garbage: bytes
    cuts: list[int]
    eof: bool

    @property
    def data(self) -> bytes:
        return b"".join(r.raw for r in self.reqs) + self.garbage

    def chunks(self) -> list[bytes]:
        data = self.data
        points = sorted({c % (len(data) + 1) for c in self.cuts} | {0, len(data)})
        return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@st.composite
def cases(draw: st.DrawFn, max_reqs: int = 4) -> Case:
    reqs = draw(st.lists(requests(), min_size=1, max_size=max_reqs))
    garbage = b""
    if draw(st.integers(0, 4)) == 0:
        garbage = draw(
            st.sampled_from([b"\r\n", b"GARBAGE\r\n\r\n", b"\x16\x03\x01\x02\x00", b"GE", b"\n\n"])
            | st.binary(min_size=1, max_size=40)
        )
    cuts = draw(st.lists(st.integers(0, 10**6), max_size=6))
    return Case(reqs, garbage, cuts, draw(st.booleans()))


Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


def check_replies(raw: bytes, methods: list[bytes]) -> list[Reply]:
    """Read ``raw`` as the responses to requests made with ``methods`` (GET past the list).

    Every response must be whole and valid HTTP/1.1 (h11's client reading it), and nothing may
    follow the last one but the end of the connection. A request the server could not read
    (h11 refused it) is answered as a GET whatever its method, as Go's net/http does: a
    4xx that closes the connection after a HEAD may carry its text.

    Returns:
        ``(status, headers, body)`` for each response.
    """
    out: list[Reply] = []
    try:
        return _read_replies(raw, methods, out)
    except h11.RemoteProtocolError:
        # The response being read, or the last one read when bytes followed its close.
        for i in (len(out) - 1, len(out)):
            if 0 <= i < len(methods) and methods[i].upper() == b"HEAD":
                again = [*methods[:i], b"GET", *methods[i + 1 :]]
                try:
                    got = _read_replies(raw, again, [])
                except h11.RemoteProtocolError:
                    continue
                status, headers, _ = got[i]
                assert 400 <= status < 500 and (b"connection", b"close") in headers, got[i]
                return got
        raise


def _read_replies(raw: bytes, methods: list[bytes], out: list[Reply]) -> list[Reply]:
    client = h11.Connection(h11.CLIENT)
    client.receive_data(raw)
    client.receive_data(b"")
    while True:
        if client.trailing_data == (b"", True):
            return out  # the server closed between responses
        method = methods[len(out)] if len(out) < len(methods) else b"GET"
        if method.upper() != b"HEAD":
            method = b"GET"
        client.send(h11.Request(method=method, target="/", headers=[("Host", "t")]))
        client.send(h11.EndOfMessage())
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        body = bytearray()
        while True:
            ev = client.next_event()  # raises RemoteProtocolError on anything malformed
            if isinstance(ev, h11.ConnectionClosed):
                assert status == 0, f"response cut short after {len(body)} body bytes: {raw!r}"
                return out
            assert ev is not h11.NEED_DATA, raw
            if isinstance(ev, h11.InformationalResponse):
                continue
            if isinstance(ev, h11.Response):
                status = ev.status_code
                headers = list(ev.headers)
            elif isinstance(ev, h11.Data):
                body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                out.append((status, headers, bytes(body)))
                break
        if client.their_state is h11.MUST_CLOSE or client.our_state is h11.MUST_CLOSE:
            ev = client.next_event()
            assert isinstance(ev, h11.ConnectionClosed), f"bytes after a closing response: {raw!r}"
            return out
        client.start_next_cycle()
