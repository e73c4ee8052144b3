"""Who is asking, and may they read this: client tokens and per-module authorization.

Theory of operation. A client proves who it is with a token, sent as
``Authorization: Bearer <token>`` or as the password of ``Authorization: Basic`` (any user
name: the go command sends what ``.netrc`` or ``GOAUTH`` give it, and only over HTTPS, cmd/go
``internal/auth`` ``AddCredentials``). A token reads ``gpt_<id>_<secret>``: the id picks its
entry in the :class:`TokenTable` (so a look-up never compares secrets one by one) and the
SHA-256 of the whole token is compared with the entry's in constant time
(``hmac.compare_digest``). The table is data the caller gives (read from its tokens file) and
may swap at any time through a :class:`Keyring`; expiry is judged on the caller's wall clock,
the ``now`` every request flow takes.

:func:`authorize` is the one decision, made from the request target alone, before any store
or upstream look-up, so a refusal is the same whether the module exists or not:

* ``/healthz`` and ``/readyz`` are open to all, whatever credentials came with them.
* Credentials that came and are bad (malformed, unknown, wrong secret, expired, removed):
  401 with ``WWW-Authenticate``, even for a module anyone may read, so a client with a
  broken ``.netrc`` learns it at once rather than when it first needs a private module.
* A module (its list, ``@latest``, ``.info``, ``.mod``, ``.zip``, its catalog page, a
  checksum-database lookup of it) anonymous clients may read (``anonymous``; by default
  every module not ``private``): served. Otherwise no credentials: 401; a token whose scope
  does not cover it: 403.
* With ``anonymous = none`` every other endpoint (tiles, the catalog, the index) needs a
  token too; ``/metrics`` needs one with ``admin:metrics`` when ``metrics_auth`` is on, and
  ``POST /admin/warm`` always needs one with ``admin:warm``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import TYPE_CHECKING

import msgspec

from ..module.paths import PrefixPatterns
from .replies import Reply, text_reply
from .targets import (
    HealthReq,
    LatestReq,
    ListReq,
    MetricsReq,
    ModulePageReq,
    SumdbKind,
    SumdbReq,
    VersionReq,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .config import CompiledConfig
    from .targets import Request

__all__ = [
    "ADMIN_SCOPES",
    "ANONYMOUS_NONE",
    "ID_LENGTH",
    "INTERNAL",
    "TOKEN_PREFIX",
    "WWW_AUTHENTICATE",
    "AuthError",
    "Caller",
    "Keyring",
    "Token",
    "TokenTable",
    "authorize",
    "authorize_admin",
    "identify",
    "may_read",
    "parse_authorization",
    "split_token",
    "token_hash",
]

TOKEN_PREFIX = "gpt_"
"""Every token starts so (a secret scanner can tell one from other strings)."""

ID_LENGTH = 16
"""The id's length: lower-case hex digits after the prefix."""

ADMIN_SCOPES = ("warm", "metrics")
"""What a token's admin scopes may name: ``admin:warm`` (``POST /admin/warm``) and
``admin:metrics`` (``/metrics`` when ``metrics_auth`` is on)."""

ANONYMOUS_NONE = "none"
"""The ``anonymous`` value that leaves anonymous clients nothing but ``/healthz``,
``/readyz`` (and ``/metrics`` unless ``metrics_auth``)."""

WWW_AUTHENTICATE = 'Basic realm="goproxy", Bearer'
"""The challenge a 401 carries (RFC 9110 §11.6.1): Basic for ``.netrc``, or a bearer token."""

_ID = re.compile(f"[0-9a-f]{{{ID_LENGTH}}}")
_SECRET = re.compile(r"[A-Za-z0-9_\-]{16,256}")
# The hash a token with an unknown id is compared against, so either way one comparison runs.
_NO_HASH = "0" * 64


class AuthError(Exception):
    """Credentials that cannot be read (a malformed header, another scheme)."""


class Token(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One token's entry in the table: never its secret, only the SHA-256 of the token.

    Attributes:
        id: the id in the token (``gpt_<id>_<secret>``): :data:`ID_LENGTH` hex digits.
        name: the name the operator gave it; the audit log and metric show this.
        sha256: the SHA-256 of the whole token, hex (:func:`token_hash`).
        scope: GOPRIVATE-syntax patterns of the modules it may read; "" for every module.
        admin: the admin scopes it holds, of :data:`ADMIN_SCOPES`.
        expires: when it stops working, seconds since the epoch; 0 never.
        created: when it was made, seconds since the epoch (for ``goproxy token ls``).
    """

    id: str
    name: str
    sha256: str
    scope: str = ""
    admin: tuple[str, ...] = ()
    expires: float = 0.0
    created: float = 0.0


class TokenTable:
    """The tokens a server accepts, by id (build it once per version of the tokens file)."""

    def __init__(self, tokens: Iterable[Token] = ()) -> None:
        self.tokens: tuple[Token, ...] = tuple(tokens)
        self._by_id: dict[str, tuple[Token, PrefixPatterns | None]] = {
            t.id: (t, PrefixPatterns(t.scope) if t.scope else None) for t in self.tokens
        }

    def __len__(self) -> int:
        return len(self.tokens)

    def find(self, token: str) -> tuple[Token, PrefixPatterns | None] | None:
        """The entry ``token`` proves (and its compiled scope), or None.

        The look-up is by the id; the secret is checked by comparing the token's SHA-256
        with the entry's in constant time, and an unknown id costs the same comparison.
        """
        parts = split_token(token)
        if parts is None:
            return None
        got = self._by_id.get(parts[0])
        want = got[0].sha256 if got is not None else _NO_HASH
        ok = hmac.compare_digest(token_hash(token), want)
        return got if ok and got is not None else None


class Keyring:
    """The current :class:`TokenTable`, shared by every connection of a server.

    The caller hands a new table over (:meth:`replace`) whenever its tokens file changes;
    the next request is judged against it, on every connection, kept-alive ones too.
    """

    def __init__(self, table: TokenTable | None = None) -> None:
        self.table = table if table is not None else TokenTable()

    def replace(self, table: TokenTable) -> None:
        """Judge requests from now on against ``table``."""
        self.table = table


def token_hash(token: str) -> str:
    """The SHA-256 of ``token``, hex: what the tokens file keeps.

    A fast hash is right here: a token carries 256 random bits, so no guess list and no
    amount of hashing power finds one from its hash; slow password hashes (scrypt, argon2)
    exist for secrets people choose, and would only slow every request.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a token of the form ``gpt_<id>_<secret>``, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    rest = token[len(TOKEN_PREFIX) :]
    tid, sep, secret = rest[:ID_LENGTH], rest[ID_LENGTH : ID_LENGTH + 1], rest[ID_LENGTH + 1 :]
    if sep != "_" or not _ID.fullmatch(tid) or not _SECRET.fullmatch(secret):
        return None
    return tid, secret


def parse_authorization(value: bytes) -> str:
    """The token in an ``Authorization`` header value.

    ``Bearer <token>``, or ``Basic base64(user:token)`` with any user name (RFC 7617: the
    password is what follows the first colon). Scheme names are case-insensitive.

    Raises:
        AuthError: the value is malformed, or uses another scheme.
    """
    scheme, _, rest = value.strip().partition(b" ")
    rest = rest.strip()
    kind = scheme.lower()
    if kind == b"bearer":
        if not rest or b" " in rest:
            raise AuthError("malformed bearer credentials")
        try:
            return rest.decode("ascii")
        except UnicodeDecodeError:
            raise AuthError("malformed bearer credentials") from None
    if kind == b"basic":
        try:
            decoded = base64.b64decode(rest, validate=True)
        except (binascii.Error, ValueError):
            raise AuthError("malformed basic credentials: not base64") from None
        _user, sep, password = decoded.partition(b":")
        if not sep:
            raise AuthError("malformed basic credentials: no user:password")
        try:
            return password.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthError("malformed basic credentials: not UTF-8") from None
    raise AuthError("unsupported authorization scheme: use Basic (.netrc) or Bearer")


class Caller(msgspec.Struct, frozen=True):
    """Who sent a request, as its credentials tell.

    Attributes:
        name: the token's name; "" for an anonymous client or bad credentials.
        sent: whether the request carried credentials at all.
        error: why the credentials were refused (one line, never the token); "" when they
            were good or none came.
        scope: the token's scope patterns (None: every module).
        admin: its admin scopes.
    """

    name: str = ""
    sent: bool = False
    error: str = ""
    scope: PrefixPatterns | None = None
    admin: tuple[str, ...] = ()


_ANONYMOUS = Caller()

INTERNAL = Caller(name="(internal)")
"""The proxy's own tools (``goproxy verify --repair``): may read every module."""


def identify(keyring: Keyring | None, headers: Sequence[tuple[bytes, bytes]], now: float) -> Caller:
    """Who sent ``headers`` (lower-case names), judged against ``keyring``'s table at
    ``now`` (the caller's wall clock, seconds since the epoch)."""
    value: bytes | None = None
    for name, v in headers:
        if name == b"authorization":
            if value is not None:
                return Caller(sent=True, error="more than one Authorization header")
            value = v
    if value is None:
        return _ANONYMOUS
    try:
        token = parse_authorization(value)
    except AuthError as e:
        return Caller(sent=True, error=str(e))
    table = keyring.table if keyring is not None else None
    got = table.find(token) if table is not None else None
    if got is None:
        return Caller(sent=True, error="unknown or removed token")
    entry, scope = got
    if entry.expires and now >= entry.expires:
        return Caller(sent=True, error=f"token {entry.name} expired")
    return Caller(name=entry.name, sent=True, scope=scope, admin=entry.admin)


def _unauthorized(message: str) -> Reply:
    reply = text_reply(401, message)
    return msgspec.structs.replace(reply, headers=(("www-authenticate", WWW_AUTHENTICATE),))


def _forbidden(message: str) -> Reply:
    return text_reply(403, message)


def module_of(req: Request) -> str:
    """The module a request reads ("" for one that names none: tiles, the catalog, health)."""
    if isinstance(req, (VersionReq, ListReq, LatestReq, ModulePageReq)):
        return req.module
    if isinstance(req, SumdbReq) and req.kind is SumdbKind.LOOKUP:
        return req.module
    return ""


def anonymous_reads(cfg: CompiledConfig, module: str) -> bool:
    """Whether an anonymous client may read ``module`` ("" for an endpoint naming none)."""
    if cfg.anonymous_none:
        return False
    if not module:
        return True
    if cfg.anonymous is not None:
        return cfg.anonymous.matches(module)
    return not cfg.private.matches(module)


def may_read(cfg: CompiledConfig, caller: Caller, module: str) -> bool:
    """Whether ``caller`` may read ``module``: what the catalog shows it (a listing names
    only the modules its reader may read, so it reveals no other module's existence)."""
    if caller.error:
        return False
    if anonymous_reads(cfg, module):
        return True
    return bool(caller.name) and (caller.scope is None or caller.scope.matches(module))


def authorize(cfg: CompiledConfig, caller: Caller, req: Request) -> Reply | None:
    """Whether ``caller`` may have ``req`` answered: None if so, else the 401 or 403.

    Decided from the target alone, before any look-up: the answer is the same whether the
    module exists or not.
    """
    if isinstance(req, HealthReq):
        return None
    if caller.error:
        return _unauthorized(f"unauthorized: {caller.error}")
    if isinstance(req, MetricsReq):
        if not cfg.config.metrics_auth:
            return None
        return authorize_admin(caller, "metrics")
    module = module_of(req)
    if anonymous_reads(cfg, module):
        return None
    what = f"module {module}" if module else "this proxy"
    if not caller.name:
        return _unauthorized(f"unauthorized: {what} needs a token (.netrc or GOAUTH)")
    if caller.scope is None or not module or caller.scope.matches(module):
        return None
    return _forbidden(f"forbidden: token {caller.name} does not cover module {module}")


def authorize_admin(caller: Caller, scope: str) -> Reply | None:
    """Whether ``caller`` holds ``admin:<scope>``: None if so, else the 401 or 403."""
    if caller.error:
        return _unauthorized(f"unauthorized: {caller.error}")
    if not caller.name:
        return _unauthorized(f"unauthorized: admin:{scope} needs a token")
    if scope not in caller.admin:
        return _forbidden(f"forbidden: token {caller.name} does not hold admin:{scope}")
    return None


def audited(cfg: CompiledConfig, caller: Caller, req: Request | None) -> bool:
    """Whether the exchange goes to the audit trail: a module matching ``private``, or any
    request that carried credentials."""
    if caller.sent:
        return True
    if req is None or not cfg.private:
        return False
    module = module_of(req)
    return bool(module) and cfg.private.matches(module)
