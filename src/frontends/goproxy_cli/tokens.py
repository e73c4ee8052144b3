"""``goproxy token add|ls|rm``: the clients' tokens, kept as hashes in the tokens file.

``add`` prints the new token once (it is kept nowhere: the file holds its SHA-256 only);
``ls`` lists names, scopes, admin scopes, expiry and creation, never a hash; ``rm`` removes
one. A running server reads the file again within a second of a change
(:class:`goproxy_io.tokens.TokenWatch`). See docs/security.md.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from goproxy_core.proxy.auth import ADMIN_SCOPES

from .settings import SettingsError, _check_patterns, load_settings

if TYPE_CHECKING:
    import argparse
    from argparse import _SubParsersAction

__all__ = ["register", "run"]


def register(sub: _SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``goproxy token`` and its commands to the command line."""
    t = sub.add_parser(
        "token",
        help="client tokens: add (printed once), ls, rm",
        description="Tokens let clients read modules anonymous clients may not (private ones): "
        "the go command sends one from .netrc or GOAUTH over HTTPS. The tokens file keeps "
        "each token's SHA-256 only; a running server picks changes up within a second.",
    )
    tsub = t.add_subparsers(dest="token_command", required=True)
    add = tsub.add_parser("add", help="make a token and print it (once)")
    add.add_argument("name", help="the token's name (the audit log shows it)")
    add.add_argument(
        "--scope",
        metavar="PATTERNS",
        help="GOPRIVATE-style patterns of the modules it may read (default: every module)",
    )
    add.add_argument(
        "--admin",
        metavar="SCOPES",
        help=f"admin scopes it holds, comma separated: {', '.join(ADMIN_SCOPES)}",
    )
    add.add_argument(
        "--expires",
        metavar="DATE",
        help="when it stops working: a date (2027-01-31: the end of that day, UTC), an ISO "
        "8601 time, or a span (30d, 12h, 90m); default: never",
    )
    ls = tsub.add_parser("ls", help="list the tokens (never a token or its hash)")
    rm = tsub.add_parser("rm", help="remove a token (a running server refuses it within 1 s)")
    rm.add_argument("name", help="the token's name")
    for p in (add, ls, rm):
        p.add_argument("--cache-dir", metavar="DIR", help="the cache directory of `goproxy serve`")
        p.add_argument(
            "--tokens-file",
            metavar="FILE",
            help="the tokens file (default: CACHE_DIR/_goproxy/tokens.json)",
        )
        p.add_argument("--config", metavar="FILE", help="TOML config file (as for serve)")


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def run(ns: argparse.Namespace) -> int:
    """Run ``goproxy token ...``; returns the exit status (2: a bad request, one line)."""
    from goproxy_io.tokens import (
        TokenFileError,
        add_token,
        parse_expiry,
        read_tokens,
        remove_token,
    )

    flags = {"cache_dir": ns.cache_dir, "tokens_file": ns.tokens_file}
    try:
        settings = load_settings(flags, config_file=ns.config)
        path = settings.tokens_file
        if ns.token_command == "add":
            now = time.time()
            scope = ns.scope or ""
            _check_patterns("scope", scope)
            admin = tuple(a.strip() for a in (ns.admin or "").split(",") if a.strip())
            admin = tuple(a.removeprefix("admin:") for a in admin)
            expires = parse_expiry(ns.expires, now) if ns.expires else 0.0
            token = add_token(path, ns.name, scope=scope, admin=admin, expires=expires, now=now)
            print(token)
            print(
                f"token {ns.name} added to {path}: shown this once, keep it now "
                "(the file holds its SHA-256 only)",
                file=sys.stderr,
            )
            return 0
        if ns.token_command == "rm":
            remove_token(path, ns.name)
            print(f"token {ns.name} removed from {path}", file=sys.stderr)
            return 0
        tokens = read_tokens(path)
    except (SettingsError, TokenFileError) as e:
        print(f"goproxy: {e}", file=sys.stderr)
        return 2
    print("NAME\tSCOPE\tADMIN\tEXPIRES\tCREATED")
    now = time.time()
    for t in tokens:
        expiry = "never" if not t.expires else _when(t.expires)
        if t.expires and t.expires <= now:
            expiry += " (expired)"
        held = ",".join(f"admin:{a}" for a in t.admin) or "-"
        scope = t.scope or "*all*"
        print(f"{t.name}\t{scope}\t{held}\t{expiry}\t{_when(t.created)}")
    return 0
