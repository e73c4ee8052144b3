"""Log formats: today's text lines, or one JSON object per line (``log-format = json``).

Theory of operation: every logger of the process writes through one stdlib handler on stderr
(:func:`configure_logging`). A filter on that handler stamps each record with the id of the
request being served in the thread or task that logged it (:data:`REQUEST_ID`, a context
variable the servers set before they carry out a request's I/O; worker threads started with
``anyio.to_thread`` and ``trio.to_thread`` inherit it), so an upstream warning names the
request that caused it. The access and slow-request lines (:mod:`goproxy_io.access`) carry
their exchange as ``record.access`` (an :class:`AccessLine`), which the JSON formatter spreads
into fields.

The JSON formatter (:class:`JsonFormatter`) writes ``time`` (RFC 3339, UTC, milliseconds),
``level``, ``logger``, ``msg``, then ``request_id`` when there is one, the exchange's fields
for access lines, and ``exc``/``stack`` for tracebacks: always one line, encoded by msgspec,
valid JSON whatever bytes a client put in its target (control characters are escaped; a lone
surrogate is replaced).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import secrets
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from goproxy_core import endpoint_of

if TYPE_CHECKING:
    import types

    from goproxy_core import AccessRecord

__all__ = [
    "REQUEST_ID",
    "TEXT_FORMAT",
    "AccessLine",
    "JsonFormatter",
    "RequestIdFilter",
    "TextFormatter",
    "configure_logging",
    "new_id_prefix",
    "rfc3339",
]

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("goproxy_request_id", default="")
"""The id of the request the current task or thread works for ("" when none)."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
"""The text line: as it always was (a request id is added at the end where there is one)."""


def new_id_prefix() -> str:
    """A prefix for one server's request ids: 8 random hex digits and a dash (``3f9a1c2e-``).

    With the core's count after it, ids are unique across processes and restarts as far as
    32 random bits go, and stay short enough to read in a log.
    """
    return secrets.token_hex(4) + "-"


class AccessLine(NamedTuple):
    """An exchange as a log record carries it (``extra={"access": ...}``).

    Attributes:
        record: the core's record of the exchange.
        base_path: the URL path the proxy is mounted under (for ``endpoint_of``).
        duration_ms: milliseconds from the request head to the response decided.
        client: the client's address, for an audited exchange ("" unknown).
    """

    record: AccessRecord
    base_path: str
    duration_ms: float
    client: str = ""

    def fields(self) -> dict[str, Any]:
        """The JSON fields of the exchange (see docs/operations.md)."""
        rec = self.record
        ep = endpoint_of(rec.target, self.base_path)
        fields = {
            "request_id": rec.request_id or None,
            "method": rec.method,
            "path": rec.target,
            "kind": ep.kind,
            "module": ep.module or None,
            "version": ep.version or None,
            "status": rec.status,
            "bytes": rec.length,
            "duration_ms": round(self.duration_ms, 3),
            "cache": rec.cache_status or None,
            "upstream": rec.upstream or None,
        }
        if rec.audit:  # the audit trail's fields: the token's name, never the token
            fields["token"] = rec.token
            fields["client"] = self.client or None
        return fields


class RequestIdFilter(logging.Filter):
    """Stamps each record with :data:`REQUEST_ID` (as ``record.request_id``) unless it has one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


@functools.lru_cache(maxsize=4)
def _second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def rfc3339(created: float) -> str:
    """``created`` (seconds since the epoch) as RFC 3339 in UTC with milliseconds."""
    second = int(created)
    return f"{_second(second)}.{min(999, int((created - second) * 1000)):03d}Z"


_encode = msgspec.json.Encoder().encode


def _clean(value: object) -> object:
    """``value`` with every lone surrogate in its strings replaced (they cannot be UTF-8)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", "")
        if rid:
            out["request_id"] = rid
        access = getattr(record, "access", None)
        if isinstance(access, AccessLine):
            out.update(access.fields())
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        try:
            return _encode(out).decode()
        except (UnicodeEncodeError, TypeError, ValueError):
            return _encode(_clean(out)).decode()


class TextFormatter(logging.Formatter):
    """:data:`TEXT_FORMAT`, and `` request_id=ID`` after a line logged while serving one.

    Access and slow-request lines say their id themselves.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", "")
        if rid and getattr(record, "access", None) is None:
            first, nl, rest = line.partition("\n")
            line = f"{first} request_id={rid}{nl}{rest}"
        return line


def configure_logging(
    level: str,
    fmt: Literal["text", "json"] = "text",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send every log line of the process to ``stream`` (stderr) in ``fmt``; returns the handler.

    With ``json``, Python warnings and uncaught exceptions (the main thread's and other
    threads') become log lines too, so that nothing but JSON reaches the stream.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    if fmt == "json":
        logging.captureWarnings(True)
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_thread_uncaught
    return handler


_crash_log = logging.getLogger("goproxy.crash")


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: types.TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    _crash_log.critical("uncaught exception", exc_info=(kind, value, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    value = args.exc_value if args.exc_value is not None else args.exc_type()
    _crash_log.critical(
        "uncaught exception in thread %s", name, exc_info=(args.exc_type, value, args.exc_traceback)
    )
