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
from pathlib import Path
from typing import Any, Literal

import msgspec

from goproxy_core import ConfigError, ProxyConfig, RetractedPolicy, SumdbConfig

__all__ = [
    "ENV_PREFIX",
    "Settings",
    "SettingsError",
    "default_cache_dir",
    "go_defaults",
    "go_known_key",
    "load_settings",
]

ENV_PREFIX = "GOPROXY_CORE_"

Frontend = Literal["trio", "asyncio", "sockets"]


class SettingsError(Exception):
    """A setting is missing, misspelt or invalid; the message says which and why."""


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="kebab"):
    """Every setting of ``goproxy serve`` (see docs/configuration.md)."""

    listen: str = "127.0.0.1:8080"
    cache_dir: str = ""
    upstream: str = ""
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
    sumdb: str = ""
    nosumdb: str = ""
    verify_before_send: int = 8 << 20
    own_sumdb: str = ""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 2
    idle_timeout: float = 60.0
    grace: float = 30.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True

    def host_port(self) -> tuple[str, int]:
        """The listen address split into host and port."""
        host, sep, port = self.listen.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise SettingsError(f"listen: want HOST:PORT, got {self.listen!r}")
        return host.strip("[]"), int(port)

    def proxy_config(self) -> ProxyConfig:
        """The core's settings."""
        return ProxyConfig(
            upstream=self.upstream,
            private=self.private,
            retracted=RetractedPolicy(self.retracted),
            base_path=self.base_path,
            list_ttl=self.list_ttl,
            negative_ttl=self.negative_ttl,
            sumdb=self.sumdb_databases(),
            nosumdb=self.nosumdb,
            verify_before_send=self.verify_before_send,
            own_sumdb=self.own_sumdb,
            idle_timeout=self.idle_timeout,
        )

    def verification_summary(self) -> str:
        """One line saying what is verified against which database, for the start-up output."""
        dbs = self.sumdb_databases()
        if not dbs:
            return "verify: off: nothing is checked against a checksum database (sumdb = off)"
        first = dbs[0]
        where = first.url or "the way the go command finds it (the upstreams' sumdb support)"
        skipped = [f"private {self.private}"] if self.private else []
        if self.nosumdb:
            skipped.append(f"nosumdb {self.nosumdb}")
        return f"verify: every .mod and .zip from upstream against {first.key} via {where}" + (
            f"; not verified: {'; '.join(skipped)}" if skipped else ""
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
                raise SettingsError(
                    f"sumdb: {item!r}: want name+hash+key, optionally =URL (GOSUMDB syntax)"
                )
            key, url = m.group("key"), m.group("url") or ""
            name = key.split("+", 1)[0]
            if "+" not in key:
                known = go_known_key(name)
                if known is None:
                    raise SettingsError(
                        f"sumdb: no verifier key for {name!r}: the local go installation "
                        f"({_KEY_FILE}) knows none for it; want name+hash+key, optionally "
                        "=URL (GOSUMDB syntax)"
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
        raise SettingsError(f"{name.replace('_', '-')}: want true or false, got {raw!r}")
    if field.type is int:
        return _number(name, raw, int)
    if field.type is float:
        return _number(name, raw, float)
    return raw


def _number(name: str, raw: str, kind: type[Any]) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name.replace('_', '-')}: not a number: {raw!r}") from None


def load_settings(
    flags: dict[str, Any], environ: dict[str, str] | None = None, config_file: str | None = None
) -> Settings:
    """Merge every source into validated settings.

    Args:
        flags: values given on the command line (None = not given), by field name.
        environ: the environment (default: ``os.environ``).
        config_file: a TOML file (default: ``$GOPROXY_CORE_CONFIG`` if set).

    Raises:
        SettingsError: naming the bad key or value.
    """
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise SettingsError(f"config: cannot read {path}: {e.strerror}") from None
        try:
            values.update(msgspec.structs.asdict(msgspec.toml.decode(data, type=Settings)))
            given = msgspec.toml.decode(data)
        except msgspec.ValidationError as e:
            raise SettingsError(f"config {path}: {e}") from None
        except msgspec.DecodeError as e:
            raise SettingsError(f"config {path}: not valid TOML: {e}") from None
        values = {k: v for k, v in values.items() if k.replace("_", "-") in given}
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name.replace("_", "-") not in _FIELDS:
            raise SettingsError(f"unknown environment variable {key}")
        values[name] = _coerce(name, raw)
    values.update({k: v for k, v in flags.items() if v is not None})
    try:
        settings = msgspec.convert(
            {k.replace("_", "-"): v for k, v in values.items()}, Settings, strict=False
        )
    except msgspec.ValidationError as e:
        raise SettingsError(str(e)) from None
    if not settings.cache_dir:
        settings = msgspec.structs.replace(settings, cache_dir=default_cache_dir())
    if not settings.vcs_dir:
        settings = msgspec.structs.replace(
            settings, vcs_dir=os.path.join(settings.cache_dir, ".vcs")
        )
    if settings.vcs_timeout <= 0 or settings.vcs_jobs < 1:
        raise SettingsError("vcs-timeout: must be positive; vcs-jobs: must be at least 1")
    if settings.workers < 1:
        raise SettingsError("workers: must be at least 1")
    settings.host_port()
    if not settings.upstream or not settings.sumdb:
        up, sumdb = go_defaults() if not (settings.upstream and settings.sumdb) else ("", "")
        settings = msgspec.structs.replace(
            settings,
            upstream=settings.upstream or up or "off",
            sumdb=settings.sumdb or sumdb,
        )
    try:
        settings.proxy_config()
        from goproxy_core import compile_config

        compile_config(settings.proxy_config())
    except ConfigError as e:
        raise SettingsError(str(e)) from None
    return settings
