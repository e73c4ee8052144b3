"""TLS for every server: the server context, its reload on SIGHUP, and the first byte's check.

:func:`server_context` makes the context from a PEM certificate file (the chain may follow
the leaf) and a PEM key file: ``ssl.create_default_context(Purpose.CLIENT_AUTH)`` (the ssl
module's secure defaults), TLS 1.2 at least, ALPN ``http/1.1`` (the proxy speaks HTTP/1.1
only). A file that is missing, unreadable, not PEM or a key that does not match the
certificate is a :class:`TLSFileError` naming the setting, the file and what is expected.

:class:`TLSHolder` keeps the context new connections get. :meth:`TLSHolder.reload` (SIGHUP)
reads both files again into a *new* context: connections already open keep the one they
shook hands with, so none is dropped; a reload that fails keeps the old context and logs one
line naming the file and the problem.

Every server reads a connection's first byte (a peek, within :data:`HANDSHAKE_TIMEOUT`) off
its accept loop before the handshake (:func:`first_byte_kind`): a TLS record starts with
0x16 (a handshake record); an ASCII letter is a plain HTTP request on the TLS port, which
gets :func:`plain_http_answer` (a 400 that says to use https://) and is closed; anything
else is closed at once. No sendfile under TLS: stored files go through the TLS stream in
bounded chunks (``goproxy_io.server.SEND_CHUNK``).
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import threading

__all__ = [
    "FIRST_BYTE_TLS",
    "GARBAGE",
    "HANDSHAKE_TIMEOUT",
    "PLAIN_HTTP",
    "TLS",
    "TLSFileError",
    "TLSHolder",
    "first_byte_kind",
    "plain_http_answer",
    "server_context",
]

log = logging.getLogger("goproxy.tls")

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a new TLS connection has for its first byte and whole handshake; past it, it is
closed. A slow or truncated handshake holds its own connection slot that long, nothing else."""

FIRST_BYTE_TLS = 0x16
"""The content type of a TLS handshake record: every ClientHello starts with it."""

TLS, PLAIN_HTTP, GARBAGE = "tls", "http", "garbage"

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----")
_PEM_KEY = re.compile(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
_WANT_CERT = "a readable PEM file of the server certificate (its chain may follow it)"
_WANT_KEY = "a readable PEM file of the private key of tls-cert"


class TLSFileError(Exception):
    """A TLS file cannot be used: ``key`` (``tls-cert`` or ``tls-key``), ``path``, ``what``
    is wrong and ``want``, what is expected (the CLI shows it as a settings error)."""

    def __init__(self, key: str, what: str, path: str, want: str) -> None:
        super().__init__(f"{key}: {what} (got {path!r}; want {want})")
        self.key = key
        self.what = what
        self.path = path
        self.want = want


def _read(key: str, path: str, pem: re.Pattern[bytes], want: str, kind: str) -> None:
    """The file is there, readable and holds a PEM block of ``kind`` (else TLSFileError)."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except FileNotFoundError:
        raise TLSFileError(key, "no such file", path, want) from None
    except IsADirectoryError:
        raise TLSFileError(key, "a directory, not a file", path, want) from None
    except OSError as e:
        raise TLSFileError(key, f"cannot be read: {e.strerror or e}", path, want) from None
    if not pem.search(data):
        raise TLSFileError(key, f"not PEM: no {kind} in it", path, want)


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context from the PEM ``cert`` file (chain allowed) and ``key`` file.

    Blocking (reads both files). Raises:
        TLSFileError: naming ``tls-cert`` or ``tls-key``, the file and what is wrong.
    """
    _read("tls-cert", cert, _PEM_CERT, _WANT_CERT, "certificate")
    _read("tls-key", key, _PEM_KEY, _WANT_KEY, "private key")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        # The certificates alone first, on a throwaway context: a bad one is named as such.
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_verify_locations(cafile=cert)
    except (ssl.SSLError, ValueError) as e:
        raise TLSFileError(
            "tls-cert", f"not a valid PEM certificate ({_reason(e)})", cert, _WANT_CERT
        ) from None
    except OSError as e:  # gone since it was read
        raise TLSFileError(
            "tls-cert", f"cannot be read: {e.strerror or e}", cert, _WANT_CERT
        ) from None
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as e:
        if "MISMATCH" in (e.reason or "").upper():
            raise TLSFileError(
                "tls-key", "does not match the certificate of tls-cert", key, _WANT_KEY
            ) from None
        raise TLSFileError(
            "tls-key", f"not a valid PEM private key ({_reason(e)})", key, _WANT_KEY
        ) from None
    except OSError as e:  # gone since it was read
        raise TLSFileError(
            "tls-key", f"cannot be read: {e.strerror or e}", key, _WANT_KEY
        ) from None
    return ctx


def _reason(e: Exception) -> str:
    """The ssl error's words without its source location."""
    reason = getattr(e, "reason", None)
    text = str(reason).lower().replace("_", " ") if reason else str(e)
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)


class TLSHolder:
    """The server context new connections get; :meth:`reload` swaps in a new one.

    Thread safe: a reload may run in any thread (a worker thread of an event loop, the
    sockets server's signal thread) while connections take :attr:`context`.
    """

    def __init__(self, cert: str, key: str) -> None:
        self.cert = os.fspath(cert)
        self.key = os.fspath(key)
        self._lock = threading.Lock()
        self._context = server_context(self.cert, self.key)
        self.reloads = 0  # successful reloads (tests, logs)

    @property
    def context(self) -> ssl.SSLContext:
        """The context for a connection accepted now."""
        return self._context

    def reload(self) -> bool:
        """Blocking: read both files again into a new context (SIGHUP).

        True once new connections get it. On failure the old context stays and one line is
        logged naming the file and the problem; False.
        """
        with self._lock:
            try:
                ctx = server_context(self.cert, self.key)
            except TLSFileError as e:
                log.error(
                    "TLS reload failed, still serving the previous certificate: %s %s: %s",
                    e.key,
                    e.path,
                    e.what,
                )
                return False
            self._context = ctx
            self.reloads += 1
        log.info("TLS certificate reloaded from %s (key %s)", self.cert, self.key)
        return True


def first_byte_kind(first: bytes) -> str:
    """What a connection's first byte says it speaks: :data:`TLS` (a handshake record),
    :data:`PLAIN_HTTP` (an ASCII letter: a request method) or :data:`GARBAGE`."""
    if not first:
        return GARBAGE
    b = first[0]
    if b == FIRST_BYTE_TLS:
        return TLS
    if 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A:
        return PLAIN_HTTP
    return GARBAGE


def plain_http_answer(sockname: tuple[object, ...]) -> bytes:
    """The 400 for plain HTTP sent to the TLS port bound at ``sockname``."""
    host = str(sockname[0])
    port = sockname[1]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    body = f"this port speaks HTTPS: use https://{host}:{port}\n".encode()
    return (
        b"HTTP/1.1 400 Bad Request\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Connection: close\r\n\r\n" + body
    )
