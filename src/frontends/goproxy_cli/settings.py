"""Server settings: defaults, a TOML file, ``GOPROXY_CORE_*`` environment variables and flags.

Later sources win: defaults < config file < environment < command-line flags. Every setting
has the same name everywhere: ``cache-dir`` in TOML, ``GOPROXY_CORE_CACHE_DIR`` in the
environment, ``--cache-dir`` on the command line. Unknown keys and variables are errors that
name the key, so a misspelt setting never goes unnoticed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import typing
from pathlib import Path
from typing import Any, Literal

import msgspec

from goproxy_core import ConfigError, ProxyConfig, RetractedPolicy, SumdbConfig
from goproxy_core.module.paths import path_match
from goproxy_core.proxy.config import is_sumdb_name

__all__ = [
    "ENV_PREFIX",
    "Settings",
    "SettingsError",
    "bad",
    "default_cache_dir",
    "go_defaults",
    "go_known_key",
    "load_settings",
]

ENV_PREFIX = "GOPROXY_CORE_"

Frontend = Literal["trio", "asyncio", "sockets"]


class SettingsError(Exception):
    """A setting is missing, misspelt or invalid; the message says which and why.

    Its text is one line, ``key: what is wrong (got VALUE; want WHAT)``, so that
    ``goproxy: <text>`` on stderr tells the operator which setting to fix and how.
    """


def bad(key: str, what: str, got: object, want: str) -> SettingsError:
    """The one-line error for setting ``key``: what is wrong, the value, what is expected."""
    shown = got if isinstance(got, str) and got.startswith("<") else repr(got)
    return SettingsError(f"{key}: {what} (got {shown}; want {want})")


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="kebab"):
    """Every setting of ``goproxy serve`` (see docs/configuration.md)."""

    listen: str = "127.0.0.1:8080"
    cache_dir: str = ""
    store: str = ""
    store_endpoint: str = ""
    store_region: str = ""
    lease_time: float = 30.0
    upstream: str = ""
    offline: bool = False
    frontend: Frontend = "trio"
    private: str = ""
    insecure: str = ""
    vcs_dir: str = ""
    vcs_timeout: float = 120.0
    vcs_jobs: int = 4
    retracted: Literal["serve", "hide", "gone"] = "serve"
    workers: int = 1
    base_path: str = ""
    list_ttl: float = 60.0
    negative_ttl: float = 60.0
    max_stale: float = 86400.0
    sumdb: str = ""
    nosumdb: str = ""
    verify_before_send: int = 8 << 20
    own_sumdb: str = ""
    prefetch: bool = True
    prefetch_concurrency: int = 8
    min_free_space: int | str = "512M"
    max_cache_size: int | str = 0
    pin: str = ""
    gc_interval: float = 30.0
    failure_ttl: float = 5.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 2
    fetch_deadline: float = 90.0
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0
    idle_timeout: float = 60.0
    grace: float = 30.0
    max_connections: int = 0
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True
    metrics: bool = True
    admin_warm: bool = False
    slow_request: float = 10.0
    anonymous: str = ""
    metrics_auth: bool = False
    tokens_file: str = ""
    tls_cert: str = ""
    tls_key: str = ""

    def host_port(self) -> tuple[str, int]:
        """The listen address split into host and port."""
        want = "HOST:PORT, PORT 1-65535 (0: any free port)"
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not host.strip("[]"):
            raise bad("listen", "not HOST:PORT", self.listen, want)
        if not port.isascii() or not port.isdigit():
            raise bad("listen", "the port is not a number", self.listen, want)
        if int(port) > 65535:
            raise bad("listen", "the port is out of range", self.listen, want)
        return host.strip("[]"), int(port)

    def proxy_config(self) -> ProxyConfig:
        """The core's settings."""
        return ProxyConfig(
            upstream=self.upstream,
            offline=self.offline,
            private=self.private,
            retracted=RetractedPolicy(self.retracted),
            base_path=self.base_path,
            list_ttl=self.list_ttl,
            negative_ttl=self.negative_ttl,
            max_stale=self.max_stale,
            sumdb=self.sumdb_databases(),
            nosumdb=self.nosumdb,
            verify_before_send=self.verify_before_send,
            own_sumdb=self.own_sumdb,
            prefetch=self.prefetch,
            prefetch_concurrency=self.prefetch_concurrency,
            min_free_space=parse_size("min-free-space", self.min_free_space),
            max_cache_size=parse_size("max-cache-size", self.max_cache_size),
            pin=self.pin,
            gc_interval=self.gc_interval,
            failure_ttl=self.failure_ttl,
            idle_timeout=self.idle_timeout,
            metrics=self.metrics,
            admin_warm=self.admin_warm,
            anonymous=self.anonymous,
            metrics_auth=self.metrics_auth,
        )

    def verification_summary(self) -> str:
        """One line saying what is verified against which database, for the start-up output."""
        dbs = self.sumdb_databases()
        if not dbs:
            return "verify: off: nothing is checked against a checksum database (sumdb = off)"
        first = dbs[0]
        off_first = self.upstream.split(",")[0].split("|")[0].strip() == "off"
        if self.offline or (off_first and not first.url):
            return (
                f"verify: offline: /sumdb/{first.name}/ answered from the proofs in the cache "
                f"for clients verifying with {first.key} (nothing is fetched here)"
            )
        where = first.url or "the way the go command finds it (the upstreams' sumdb support)"
        skipped = [f"private {self.private}"] if self.private else []
        if self.nosumdb:
            skipped.append(f"nosumdb {self.nosumdb}")
        return f"verify: every .mod and .zip from upstream against {first.key} via {where}" + (
            f"; not verified: {'; '.join(skipped)}" if skipped else ""
        )

    def quota_summary(self) -> str:
        """One line saying how the cache's disk is looked after, for the start-up output."""
        limit = parse_size("max-cache-size", self.max_cache_size)
        free = parse_size("min-free-space", self.min_free_space)
        if self.store:
            # A bucket has no free space to keep: min-free-space is ignored there, not an
            # error (it has a default, and one config file may serve both kinds of store).
            ignored = "; min-free-space does not apply to an object store (ignored)"
            if not limit:
                return "quota: off: max-cache-size unlimited (nothing is evicted)" + ignored
            kept = [f"private {self.private}"] if self.private else []
            if self.pin:
                kept.append(f"pin {self.pin}")
            return (
                f"quota: max-cache-size {_show_size(limit)} on the object store, one quota for "
                "every replica on it: past it, the least recently used module versions are "
                f"evicted (checked every {self.gc_interval:g} s)"
                + (f"; never evicted: {'; '.join(kept)}" if kept else "")
                + ignored
            )
        if not limit and not free:
            return "quota: off: max-cache-size unlimited, min-free-space 0 (nothing is evicted)"
        kept = [f"private {self.private}"] if self.private else []
        if self.pin:
            kept.append(f"pin {self.pin}")
        return (
            f"quota: max-cache-size {_show_size(limit) if limit else 'unlimited'}, "
            f"min-free-space {_show_size(free) if free else '0 (not checked)'}: past either, "
            f"the least recently used module versions are evicted (checked every "
            f"{self.gc_interval:g} s)" + (f"; never evicted: {'; '.join(kept)}" if kept else "")
        )

    def sumdb_databases(self) -> tuple[SumdbConfig, ...]:
        """``sumdb`` as databases with their verifier keys; ``off`` (or "") for none.

        Each comma-separated item is a verifier key in the ``GOSUMDB`` syntax,
        ``name+hash+keydata``, optionally followed by ``=URL`` (or a space and the URL); a
        bare ``name`` (optionally ``name=URL``) stands for the go toolchain's default database,
        whose key is read from the local Go installation (:func:`go_known_key`). Without a
        URL, the core finds the way to the database as the go command does.

        Raises:
            SettingsError: a key that does not parse, or a bare name with no known key.
        """
        out: list[SumdbConfig] = []
        if self.sumdb.strip() == "off":
            return ()
        for item in self.sumdb.split(","):
            item = item.strip()
            if not item:
                continue
            m = _SUMDB_ITEM.fullmatch(item)
            if m is None:
                raise bad("sumdb", "not a checksum database", item, _SUMDB_WANT)
            key, url = m.group("key"), m.group("url") or ""
            name = key.split("+", 1)[0]
            if not is_sumdb_name(name):
                raise bad("sumdb", "not a checksum database name", name, _SUMDB_WANT)
            if "+" not in key:
                known = go_known_key(name)
                if known is None:
                    raise bad(
                        "sumdb",
                        f"no verifier key known for this name (the local go installation's "
                        f"{_KEY_FILE} has none)",
                        name,
                        _SUMDB_WANT,
                    )
                key = known
            out.append(SumdbConfig(name=name, key=key, url=url))
        return tuple(out)


_FIELDS = {f.encode_name: f.name for f in msgspec.structs.fields(Settings)}


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/goproxy-core``, else ``~/.cache/goproxy-core``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "goproxy-core")


def go_defaults() -> tuple[str, str]:
    """The go toolchain's own default proxy list and checksum database, or ("", "").

    Asked of ``go env`` with every user setting switched off (no ``GOPROXY``/``GOSUMDB``
    variables, no ``go env -w`` file), so a client setting pointing at this very proxy can
    never make it its own upstream. ``direct`` and ``off`` entries are dropped: this server
    relays proxies; it does not fetch from version control.
    """
    go = shutil.which("go")
    if go is None:
        return "", ""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOPROXY", "GOSUMDB"))}
    env.update(GOENV="off", GOFLAGS="", GOTOOLCHAIN="local")
    try:
        out = subprocess.run(
            [go, "env", "GOPROXY", "GOSUMDB"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "", ""
    proxy = out[0] if out else ""
    sumdb = out[1] if len(out) > 1 else ""
    kept = []
    rest = proxy
    while rest:
        cut = min((i for i in (rest.find(","), rest.find("|")) if i >= 0), default=len(rest))
        entry, sep, rest = rest[:cut].strip(), rest[cut : cut + 1], rest[cut + 1 :]
        if entry in ("direct", "off"):
            break
        if entry:
            kept.append(entry + (sep or ","))
    upstream = "".join(kept).rstrip(",|")
    if sumdb in ("off", "") or " " in sumdb or "+" in sumdb:
        sumdb = sumdb.split("+")[0] if "+" in sumdb and " " not in sumdb else ""
    return upstream, sumdb


_SUMDB_WANT = "name+hash+key, optionally =URL, the GOSUMDB syntax; or off"
_SUMDB_ITEM = re.compile(r"(?P<key>[^\s=]+)(?:(?:=|\s+)(?P<url>(?:https?|file)://\S+))?")
_KEY_FILE = "$GOROOT/src/cmd/go/internal/modfetch/key.go"
_KNOWN_KEY = re.compile(r'"([^"\s]+)"\s*:\s*"([^"\s]+)"')


@functools.lru_cache(maxsize=8)
def go_known_key(name: str) -> str | None:
    """The verifier key the local go command has built in for database ``name``, or None.

    Read from the go installation's own source (``cmd/go/internal/modfetch/key.go`` under
    ``go env GOROOT``), so no key is written into this project.
    """
    go = shutil.which("go")
    if go is None:
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOPROXY", "GOSUMDB"))}
    env.update(GOENV="off", GOFLAGS="", GOTOOLCHAIN="local")
    try:
        root = subprocess.run(
            [go, "env", "GOROOT"], env=env, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        text = (Path(root) / "src/cmd/go/internal/modfetch/key.go").read_text(encoding="utf-8")
    except (OSError, subprocess.SubprocessError):
        return None
    for known_name, vkey in _KNOWN_KEY.findall(text):
        if known_name == name and vkey.startswith(name + "+"):
            return str(vkey)
    return None


def _coerce(name: str, raw: str) -> Any:
    field = next(f for f in msgspec.structs.fields(Settings) if f.name == name)
    if field.type is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise bad(name.replace("_", "-"), "not a boolean", raw, "true or false")
    if field.type is int:
        return _number(name, raw, int)
    if field.type is float:
        return _number(name, raw, float)
    return raw


def _number(name: str, raw: str, kind: type[Any]) -> Any:
    try:
        return kind(raw)
    except ValueError:
        want = "a whole number" if kind is int else "a number"
        raise bad(name.replace("_", "-"), "not a number", raw, want) from None


def _validation_error(e: msgspec.ValidationError, where: str) -> SettingsError:
    """msgspec's ``Expected `int`, got `str` - at `$.workers``` as the one-line form."""
    text = str(e)
    m = re.search(r"at `\$\.([\w-]+)`", text)
    key = m.group(1) if m else "config"
    field = next((f for f in msgspec.structs.fields(Settings) if f.encode_name == key), None)
    got = re.search(r"value '([^']*)'|got `(\w+)`", text)
    shown: object = (
        (got.group(1) if got.group(1) is not None else f"<{got.group(2)}>") if got else ""
    )
    if field is not None and typing.get_origin(field.type) is Literal:
        want = "one of " + ", ".join(typing.get_args(field.type))
        return bad(key, f"not a known value{where}", shown, want)
    if field is not None:
        kind = getattr(field.type, "__name__", str(field.type))
        want = {"int": "a whole number", "float": "a number", "bool": "true or false"}.get(
            kind, "a string"
        )
        return bad(key, f"wrong type{where}", shown, want)
    if text.startswith("Object contains unknown field"):
        unknown = re.search(r"field `([^`]*)`", text)
        name = unknown.group(1) if unknown else "?"
        return bad(name, f"unknown setting{where}", name, "a setting of docs/configuration.md")
    return SettingsError(f"{key}: {text}{where}")


def _expand(path: str) -> str:
    """``~`` and ``~user`` at the start of a path value, as a shell would."""
    return os.path.expanduser(path) if path.startswith("~") else path


_SCHEME_TYPO = re.compile(r"(?i)(https?|file)//")


def _check_upstream(upstream: str) -> None:
    """The upstream list, entry by entry, before the core parses it (GOPROXY syntax).

    The core follows cmd/go modfetch/proxy.go ``proxyList``: an entry without ``://`` is a
    host to reach over https, and ``direct``/``off`` end the walk. So ``http//host`` would
    quietly mean ``https://http//host`` and an entry after ``direct`` or ``off`` would never
    be asked; both are mistakes, refused here by name.
    """
    want_url = "scheme://host[:port][/path] with scheme https, http or file, or direct, or off"
    rest = upstream
    ended = ""
    while rest:
        i = min((j for j in (rest.find(","), rest.find("|")) if j >= 0), default=-1)
        entry, rest = (rest[:i], rest[i + 1 :]) if i >= 0 else (rest, "")
        entry = entry.strip()
        if not entry:
            continue
        if ended:
            raise bad(
                "upstream",
                f"an entry after {ended!r} is never asked",
                upstream,
                f"the list to end at {ended!r}",
            )
        if entry in ("direct", "off"):
            ended = entry
            continue
        if _SCHEME_TYPO.match(entry):
            raise bad("upstream", "URL without ':' after its scheme", entry, want_url)
        netloc = entry.split("://", 1)[1] if "://" in entry else entry
        hostport = netloc.split("/", 1)[0].rsplit("@", 1)[-1]
        port = hostport.rsplit(":", 1)[1] if ":" in hostport.lstrip("[").split("]")[-1] else ""
        if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
            raise bad("upstream", "URL port out of range 1-65535", entry, want_url)
    try:
        from goproxy_core.proxy.proxylist import parse_upstreams

        parse_upstreams(upstream)
    except ConfigError as e:
        raise bad("upstream", str(e), upstream, want_url) from None


def _check_patterns(key: str, patterns: str) -> None:
    """GOPRIVATE-style lists: each comma-separated glob must be a valid Go ``path.Match``
    pattern. The go command (x/mod module ``MatchPrefixPatterns``) skips a malformed glob,
    which then matches nothing: for a proxy that would send private names upstream."""
    for glob in patterns.split(","):
        glob = glob.strip()
        if not glob:
            continue
        try:
            path_match(glob.removesuffix("/"), "x")
        except ValueError:
            raise bad(
                key,
                "malformed pattern",
                glob,
                "comma-separated path.Match globs such as *.corp.example,example.com/team",
            ) from None


_NON_NEGATIVE = (
    "list_ttl",
    "negative_ttl",
    "failure_ttl",
    "max_stale",
    "verify_before_send",
    "retries",
    "grace",
    "breaker_failures",
    "breaker_cooldown",
    "slow_request",
)
_POSITIVE = (
    "connect_timeout",
    "read_timeout",
    "fetch_deadline",
    "idle_timeout",
    "vcs_timeout",
    "gc_interval",
)


def _check_store(url: str, endpoint: str) -> None:
    """The ``store`` URL names a store (``goproxy_stores.objectstore``); the endpoint is a
    URL."""
    from goproxy_stores.objectstore import STORE_URL_FORMS, parse_store_url

    what = parse_store_url(url)
    if what:
        raise bad("store", what, url, STORE_URL_FORMS)
    if endpoint and not re.fullmatch(r"https?://[^/\s]+/?", endpoint):
        raise bad(
            "store-endpoint", "not an http(s) URL", endpoint, "http(s)://HOST[:PORT] of the S3 API"
        )


def _check_numbers(settings: Settings) -> None:
    for name in _NON_NEGATIVE:
        value = getattr(settings, name)
        if value < 0:
            raise bad(name.replace("_", "-"), "negative", value, "0 or more")
    for name in _POSITIVE:
        value = getattr(settings, name)
        if value <= 0:
            raise bad(name.replace("_", "-"), "not positive", value, "more than 0")
    for name in ("vcs_jobs", "workers", "prefetch_concurrency"):
        value = getattr(settings, name)
        if value < 1:
            raise bad(name.replace("_", "-"), "too small", value, "1 or more")
    if settings.lease_time < 3:
        raise bad(
            "lease-time",
            "too short",
            settings.lease_time,
            "3 or more seconds (a holder renews its lease every third of it, at most once a "
            "second)",
        )
    if settings.max_connections < 0:
        raise bad(
            "max-connections",
            "negative",
            settings.max_connections,
            "1 or more, or 0: from the open-file limit",
        )


def _check_tls_pair(settings: Settings) -> None:
    """``tls-cert`` and ``tls-key`` come together (the files are read by ``goproxy serve``
    before it listens: ``goproxy_io.tls.server_context``)."""
    if bool(settings.tls_cert) != bool(settings.tls_key):
        given, missing = ("tls-cert", "tls-key") if settings.tls_cert else ("tls-key", "tls-cert")
        raise bad(
            missing,
            f"missing while {given} is set",
            getattr(settings, given.replace("-", "_")),
            "both tls-cert and tls-key (PEM files), or neither",
        )


_SIZE = re.compile(r"(\d+)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)


def parse_size(key: str, value: int | str) -> int:
    """A size in bytes: a whole number, or one with a ``K``, ``M``, ``G`` or ``T`` suffix
    (powers of 1024; ``KiB``/``KB`` the same)."""
    if isinstance(value, int):
        if value < 0:
            raise bad(key, "negative", value, "0 or more bytes")
        return value
    m = _SIZE.fullmatch(value.strip())
    if m is None:
        raise bad(key, "not a size", value, "bytes, or a number with K, M, G or T")
    return int(m[1]) << (10 * "_KMGT".index(m[2].upper() or "_"))


def _show_size(n: int) -> str:
    """A byte count as the largest exact K/M/G/T unit (``10G``, ``1536M``, ``1000``)."""
    for suffix, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n and n % (1 << shift) == 0:
            return f"{n >> shift}{suffix}"
    return str(n)


def load_settings(
    flags: dict[str, Any], environ: dict[str, str] | None = None, config_file: str | None = None
) -> Settings:
    """Merge every source into validated settings.

    Args:
        flags: values given on the command line (None = not given), by field name.
        environ: the environment (default: ``os.environ``).
        config_file: a TOML file (default: ``$GOPROXY_CORE_CONFIG`` if set); ``~`` expanded.

    Raises:
        SettingsError: one line naming the bad key, its value and what is expected.
    """
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    path = _expand(config_file or env.get(ENV_PREFIX + "CONFIG") or "")
    if path:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise bad(
                "config", f"cannot read the file: {e.strerror}", path, "a TOML file"
            ) from None
        try:
            values.update(msgspec.structs.asdict(msgspec.toml.decode(data, type=Settings)))
            given = msgspec.toml.decode(data)
        except msgspec.ValidationError as e:
            raise _validation_error(e, f" in {path}") from None
        except msgspec.DecodeError as e:
            raise bad("config", f"not valid TOML: {e}", path, "a TOML file") from None
        values = {k: v for k, v in values.items() if k.replace("_", "-") in given}
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name.replace("_", "-") not in _FIELDS:
            raise bad(
                key, "unknown environment variable", raw, "a setting of docs/configuration.md"
            )
        values[name] = _coerce(name, raw)
    values.update({k: v for k, v in flags.items() if v is not None})
    try:
        settings = msgspec.convert(
            {k.replace("_", "-"): v for k, v in values.items()}, Settings, strict=False
        )
    except msgspec.ValidationError as e:
        raise _validation_error(e, "") from None
    settings = msgspec.structs.replace(
        settings,
        cache_dir=_expand(settings.cache_dir),
        vcs_dir=_expand(settings.vcs_dir),
        tls_cert=_expand(settings.tls_cert),
        tls_key=_expand(settings.tls_key),
    )
    _check_tls_pair(settings)
    if not settings.cache_dir:
        settings = msgspec.structs.replace(settings, cache_dir=default_cache_dir())
    if not settings.vcs_dir:
        settings = msgspec.structs.replace(
            settings, vcs_dir=os.path.join(settings.cache_dir, ".vcs")
        )
    settings = msgspec.structs.replace(
        settings,
        tokens_file=_expand(settings.tokens_file)
        or os.path.join(settings.cache_dir, "_goproxy", "tokens.json"),
    )
    _check_numbers(settings)
    if settings.store:
        _check_store(settings.store, settings.store_endpoint)
    parse_size("min-free-space", settings.min_free_space)
    parse_size("max-cache-size", settings.max_cache_size)
    settings.host_port()
    if settings.base_path and not settings.base_path.startswith("/"):
        raise bad("base-path", "not an absolute URL path", settings.base_path, "/PATH")
    for key in ("private", "insecure", "nosumdb", "pin"):
        _check_patterns(key, getattr(settings, key))
    if settings.anonymous.strip() != "none":
        _check_patterns("anonymous", settings.anonymous)
    if settings.upstream:
        _check_upstream(settings.upstream)
    if not settings.upstream or not settings.sumdb:
        up, sumdb = go_defaults() if not (settings.upstream and settings.sumdb) else ("", "")
        settings = msgspec.structs.replace(
            settings,
            upstream=settings.upstream or up or "off",
            sumdb=settings.sumdb or sumdb,
        )
    if settings.own_sumdb and not is_sumdb_name(settings.own_sumdb):
        raise bad(
            "own-sumdb",
            "not a checksum database name",
            settings.own_sumdb,
            "host[/path], as GOSUMDB names a database",
        )
    try:
        from goproxy_core import compile_config

        compile_config(settings.proxy_config())
    except ConfigError as e:  # what only the core checks: the sumdb keys, names twice
        text = str(e)
        raise SettingsError(text if text.startswith("sumdb:") else f"own-sumdb: {text}") from None
    return settings
