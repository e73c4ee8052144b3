"""The tokens file: what ``goproxy token`` writes and a server reads (and reads again).

The file is JSON, ``{"tokens": [...]}``, one :class:`~goproxy_core.proxy.auth.Token` each:
an id, a name, the SHA-256 of the token, the scope, admin scopes, expiry and creation times.
The token itself is shown once, by ``goproxy token add``, and kept nowhere. The file is
written whole (a temporary file in the same directory, fsynced, then renamed over the old
one) with mode 0600, so a reader sees the old table or the new one, never half of either.

A server (``goproxy_io.server.ServerBase``) watches the file from a thread of its own
(:class:`TokenWatch`): at most once a second it compares the file's inode, size and
modification time with what it last read, and hands a changed file's table to the core's
:class:`~goproxy_core.proxy.auth.Keyring`; the event loop never touches the file.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from pathlib import Path

import msgspec

from goproxy_core.proxy.auth import (
    ADMIN_SCOPES,
    ID_LENGTH,
    TOKEN_PREFIX,
    Keyring,
    Token,
    TokenTable,
    token_hash,
)

__all__ = [
    "TOKEN_WATCH",
    "TokenFileError",
    "TokenWatch",
    "add_token",
    "load_table",
    "parse_expiry",
    "read_tokens",
    "remove_token",
    "write_tokens",
]

log = logging.getLogger("goproxy.auth")

TOKEN_WATCH = 1.0
"""Seconds between two looks at the tokens file's inode, size and modification time."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class TokenFileError(Exception):
    """The tokens file cannot be read or written, or a request on it is wrong (one line)."""


class _File(msgspec.Struct, forbid_unknown_fields=True):
    tokens: list[Token] = msgspec.field(default_factory=list)


def read_tokens(path: str | os.PathLike[str]) -> list[Token]:
    """The tokens in ``path``; none when the file does not exist.

    Raises:
        TokenFileError: the file cannot be read or is not a tokens file.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise TokenFileError(f"tokens file {path}: {e.strerror or e}") from None
    try:
        return msgspec.json.decode(data, type=_File).tokens
    except msgspec.ValidationError as e:
        raise TokenFileError(f"tokens file {path}: not a tokens file: {e}") from None
    except msgspec.DecodeError as e:
        raise TokenFileError(f"tokens file {path}: not JSON: {e}") from None


def load_table(path: str | os.PathLike[str]) -> TokenTable:
    """The :class:`TokenTable` of ``path`` (empty when it does not exist)."""
    return TokenTable(read_tokens(path))


def write_tokens(path: str | os.PathLike[str], tokens: list[Token]) -> None:
    """Write ``tokens`` to ``path`` whole: a 0600 temporary file beside it, then a rename."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", dir=target.parent)
    except OSError as e:
        raise TokenFileError(f"tokens file {path}: {e.strerror or e}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(msgspec.json.format(msgspec.json.encode(_File(tokens)), indent=2) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise TokenFileError(f"tokens file {path}: {e.strerror or e}") from None


def parse_expiry(text: str, now: float) -> float:
    """``--expires``: a date (``2027-01-31``, the end of that day UTC), a date and time in
    ISO 8601 (UTC unless it names its offset), or a span from now (``30d``, ``12h``).

    Raises:
        TokenFileError: none of those, or a moment already past.
    """
    text = text.strip()
    m = re.fullmatch(r"([0-9]+)([dhm])", text)
    if m:
        unit = {"d": 86400, "h": 3600, "m": 60}[m.group(2)]
        when = now + int(m.group(1)) * unit
    else:
        try:
            if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
                day = datetime.date.fromisoformat(text)
                moment = datetime.datetime.combine(
                    day + datetime.timedelta(days=1), datetime.time(), datetime.UTC
                )
            else:
                moment = datetime.datetime.fromisoformat(text)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=datetime.UTC)
        except ValueError:
            raise TokenFileError(
                f"bad --expires {text!r}: want a date (2027-01-31), an ISO 8601 time, "
                "or a span (30d, 12h, 90m)"
            ) from None
        when = moment.timestamp()
    if when <= now:
        raise TokenFileError(f"bad --expires {text!r}: that is not in the future")
    return when


def add_token(
    path: str | os.PathLike[str],
    name: str,
    *,
    scope: str = "",
    admin: tuple[str, ...] = (),
    expires: float = 0.0,
    now: float | None = None,
) -> str:
    """Make a token named ``name``, keep its hash in ``path``; returns the token (shown once).

    Raises:
        TokenFileError: a bad or taken name, an unknown admin scope, or the file failing.
    """
    if not _NAME.fullmatch(name):
        raise TokenFileError(
            f"bad token name {name!r}: want 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    for a in admin:
        if a not in ADMIN_SCOPES:
            raise TokenFileError(
                f"unknown admin scope {a!r}: want {' or '.join(ADMIN_SCOPES)} (comma separated)"
            )
    tokens = read_tokens(path)
    if any(t.name == name for t in tokens):
        raise TokenFileError(f"a token named {name!r} exists: remove it first, or pick another")
    ids = {t.id for t in tokens}
    tid = secrets.token_hex(ID_LENGTH // 2)
    while tid in ids:  # pragma: no cover - 64 random bits
        tid = secrets.token_hex(ID_LENGTH // 2)
    token = f"{TOKEN_PREFIX}{tid}_{secrets.token_urlsafe(32)}"
    created = time.time() if now is None else now
    entry = Token(
        tid,
        name,
        token_hash(token),
        scope=scope.strip(),
        admin=tuple(dict.fromkeys(admin)),
        expires=expires,
        created=created,
    )
    write_tokens(path, [*tokens, entry])
    return token


def remove_token(path: str | os.PathLike[str], name: str) -> None:
    """Remove the token named ``name`` from ``path``.

    Raises:
        TokenFileError: no token has that name, or the file failing.
    """
    tokens = read_tokens(path)
    kept = [t for t in tokens if t.name != name]
    if len(kept) == len(tokens):
        raise TokenFileError(f"no token named {name!r} in {path}")
    write_tokens(path, kept)


class TokenWatch:
    """Keeps ``keyring`` up to date with the tokens file at ``path``, from its own thread.

    The file is read once here (an unreadable file is an error at start-up), then looked at
    every :data:`TOKEN_WATCH` seconds; a file that turns unreadable or malformed later keeps
    the last good table, with an error logged once per change.
    """

    def __init__(self, path: str | os.PathLike[str], keyring: Keyring) -> None:
        self.path = Path(path)
        self.keyring = keyring
        self._seen = self._stamp()
        keyring.replace(load_table(self.path))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="goproxy-token-watch", daemon=True)
        self._thread.start()

    def _stamp(self) -> tuple[int, int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def check(self) -> bool:
        """Look at the file once; reload it if it changed. Returns whether it did."""
        stamp = self._stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            table = load_table(self.path)
        except TokenFileError as e:
            log.error("%s: keeping the tokens read before", e)
            return False
        self.keyring.replace(table)
        log.info("tokens file %s read again: %d tokens", self.path, len(table))
        return True

    def _run(self) -> None:
        while not self._stop.wait(TOKEN_WATCH):
            try:
                self.check()
            except Exception:  # pragma: no cover - keep watching whatever happens
                log.exception("tokens file %s: watch failed", self.path)

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
