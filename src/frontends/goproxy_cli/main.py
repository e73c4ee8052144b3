"""``goproxy``: the command line.

``goproxy serve`` runs the proxy with one of the three servers; ``goproxy verify`` checks
the store (:mod:`goproxy_cli.verify`); ``goproxy sumdb key`` prints the verifier key of the
proxy's own checksum database; ``goproxy cache ls|du|rm|gc|stats`` looks at and after the
cache dir (:mod:`goproxy_cli.cache`); ``goproxy warm`` fills the cache with what the go
command will need for a project (:mod:`goproxy_cli.warm`); ``goproxy export`` and ``goproxy
import`` carry it across an air gap with its proofs (:mod:`goproxy_cli.bundle`);
``goproxy --version``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import netrc
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from . import _early, bundle, cache, tokens, warm
from .settings import ENV_PREFIX, Settings, SettingsError, bad, load_settings
from .stores import add_store_flags, open_store, store_flags

if TYPE_CHECKING:
    from collections.abc import Sequence

    from goproxy_core.storage import BlobStore
    from goproxy_io import Fetcher
    from goproxy_io.tls import TLSHolder

__all__ = ["main"]

log = logging.getLogger("goproxy")


def _version() -> str:
    try:
        return version("goproxy-core")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="goproxy",
        description="A Go module proxy. Point clients at it with GOPROXY=http://HOST:PORT.",
        epilog=f"Every flag can also be set in the config file or as {ENV_PREFIX}<NAME>.",
    )
    p.add_argument("--version", action="version", version=f"goproxy-core {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the proxy")
    s.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (127.0.0.1:8080)")
    s.add_argument("--cache-dir", metavar="DIR", help="where modules are kept")
    add_store_flags(
        s,
        "keep modules in an object store instead of the cache dir: s3://BUCKET[/PREFIX], "
        "file:///PATH or memory:// (docs/object-store.md)",
        endpoint_help="the S3 API of an S3-compatible server",
        region_help="the bucket's region",
    )
    s.add_argument(
        "--lease-time",
        type=float,
        metavar="SECONDS",
        help="how long a replica's fetch lease on an object store lasts without a renewal: "
        "others take a dead replica's fetch over after this (30)",
    )
    s.add_argument(
        "--upstream",
        metavar="LIST",
        help="upstream proxies in GOPROXY syntax: URLs joined by ',' or '|', 'direct' "
        "(version control) or 'off' (default: the go toolchain's own default proxy)",
    )
    s.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="answer from the cache only, reaching nothing (no upstream, no direct, no "
        "checksum database): lists, @latest and /sumdb/ from what the cache holds",
    )
    s.add_argument("--frontend", choices=["trio", "asyncio", "sockets"], help="server (trio)")
    s.add_argument(
        "--private",
        metavar="PATTERNS",
        help="GOPRIVATE-style patterns: fetched from their repositories only, never sent upstream",
    )
    s.add_argument(
        "--insecure",
        metavar="PATTERNS",
        help="GOINSECURE-style patterns: repositories that may be reached over plain HTTP",
    )
    s.add_argument("--vcs-dir", metavar="DIR", help="where direct mode keeps git mirrors")
    s.add_argument("--retracted", choices=["serve", "hide", "gone"], help="retraction policy")
    s.add_argument("--workers", type=int, metavar="N", help="processes sharing the port (1)")
    s.add_argument("--config", metavar="FILE", help="TOML config file")
    s.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="open client connections per process; at the limit the longest-idle one is "
        "closed for a new one (0: from the open-file limit)",
    )
    s.add_argument(
        "--fetch-deadline",
        type=float,
        metavar="SECONDS",
        help="no upstream retry starts this long after a fetch began (90; a body already "
        "arriving is bounded by the read timeout only)",
    )
    s.add_argument(
        "--breaker-failures",
        type=int,
        metavar="N",
        help="consecutive timeouts or connect failures that open an upstream's circuit "
        "breaker (5; 0: off)",
    )
    s.add_argument(
        "--breaker-cooldown",
        type=float,
        metavar="SECONDS",
        help="seconds an open breaker skips its upstream before one probe (30)",
    )
    s.add_argument(
        "--max-cache-size",
        metavar="SIZE",
        help="disk quota: past it the least recently used module versions are evicted "
        "(bytes, or with K, M, G or T; default: unlimited)",
    )
    s.add_argument(
        "--pin",
        metavar="PATTERNS",
        help="GOPRIVATE-style patterns: versions of these modules are never evicted",
    )
    s.add_argument("--base-path", metavar="PATH", help="URL path the proxy is mounted under")
    s.add_argument(
        "--anonymous",
        metavar="PATTERNS",
        help="GOPRIVATE-style patterns of the modules clients without a token may read "
        "(default: every module not --private; 'none': no module)",
    )
    s.add_argument(
        "--metrics-auth",
        action="store_true",
        default=None,
        help="/metrics needs a token with admin:metrics (default: open)",
    )
    s.add_argument(
        "--tokens-file",
        metavar="FILE",
        help="the clients' tokens (`goproxy token`; default CACHE_DIR/_goproxy/tokens.json)",
    )
    s.add_argument(
        "--sumdb",
        metavar="KEYS",
        help="checksum databases to verify against and relay: verifier keys name+hash+key "
        "(GOSUMDB syntax), each optionally =URL, comma separated; a bare name for the go "
        "toolchain's default database; 'off' for none",
    )
    s.add_argument(
        "--nosumdb",
        metavar="PATTERNS",
        help="GONOSUMDB-style patterns: versions of these modules are not verified",
    )
    s.add_argument(
        "--verify-before-send",
        type=int,
        metavar="BYTES",
        help="zips up to this size are verified before the response starts (8388608)",
    )
    s.add_argument(
        "--own-sumdb",
        metavar="NAME",
        help="serve a checksum database of our own, signed here, at /sumdb/NAME/",
    )
    s.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    s.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="log lines as text (the default) or one JSON object per line",
    )
    s.add_argument(
        "--slow-request",
        type=float,
        metavar="SECONDS",
        help="log a WARNING for each request that takes longer (10; 0: off)",
    )
    s.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="serve HTTPS: the server certificate, PEM (its chain may follow it); with "
        "--tls-key; both re-read on SIGHUP",
    )
    s.add_argument("--tls-key", metavar="FILE", help="the certificate's private key, PEM")
    s.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    s.add_argument("--supervisor", type=int, help=argparse.SUPPRESS)
    db = sub.add_parser("sumdb", help="the proxy's own checksum database")
    dbsub = db.add_subparsers(dest="sumdb_command", required=True)
    k = dbsub.add_parser(
        "key", help="print the verifier key for GOSUMDB, making the signer key on first use"
    )
    k.add_argument("--cache-dir", metavar="DIR", help="the cache directory of `goproxy serve`")
    k.add_argument("--name", metavar="NAME", help="the database name (as --own-sumdb)")
    add_store_flags(k, "the object store of `goproxy serve`")
    k.add_argument("--config", metavar="FILE", help="TOML config file")
    v = sub.add_parser(
        "verify",
        help="re-hash the stored modules against their records and the checksum database; "
        "quarantine what fails",
        description="Check every stored .mod and .zip: its hashes against the version's "
        "record, and the record's proof against the checksum database's key. What fails is "
        "moved to _goproxy/quarantine/ under the cache dir, with a note of why, and is "
        "fetched again (verified) on its next request. Exit status: 0 nothing failed, 1 "
        "something was quarantined, 3 --repair could not fetch something again, 2 bad "
        "settings.",
    )
    v.add_argument("--cache-dir", metavar="DIR", help="the cache to check")
    add_store_flags(v, "the object store to check, as for serve")
    v.add_argument("--config", metavar="FILE", help="TOML config file (as for serve)")
    v.add_argument("--sumdb", metavar="KEYS", help="checksum databases, as for serve")
    v.add_argument("--nosumdb", metavar="PATTERNS", help="as for serve")
    v.add_argument("--private", metavar="PATTERNS", help="as for serve")
    v.add_argument("--upstream", metavar="LIST", help="where --repair fetches, as for serve")
    v.add_argument("--vcs-dir", metavar="DIR", help="as for serve (--repair, direct mode)")
    v.add_argument(
        "--jobs", type=int, metavar="N", help="versions checked at once (the number of CPUs)"
    )
    v.add_argument(
        "--repair",
        action="store_true",
        help="also fetch quarantined files again now (verified), and write records for "
        "versions stored before records existed",
    )
    v.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    v.add_argument("--log-format", choices=["text", "json"], help="as for serve")
    cache.register(sub)
    tokens.register(sub)
    bundle.register(sub)
    warm.register(sub)
    return p


def _client_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _own_sumdb_key(settings: Settings, store: BlobStore | None = None) -> str:
    """The verifier key of the own checksum database, making its signer key on first use:
    in the object store (``store``, else the one ``settings`` name) when there is one."""
    from goproxy_core.sumdb import verifier_key

    if settings.store:
        from goproxy_io.sumdb_objlog import object_signer_key
        from goproxy_stores.objectstore import ObjectStore

        store = store if store is not None else open_store(settings)
        assert isinstance(store, ObjectStore)
        return verifier_key(object_signer_key(store, settings.own_sumdb))
    from goproxy_io.sumdb_log import signer_key

    directory = os.path.join(settings.cache_dir, "sumdb", settings.own_sumdb)
    return verifier_key(signer_key(directory, settings.own_sumdb))


def _scheme(settings: Settings) -> str:
    return "https" if settings.tls_cert else "http"


def _goproxy_line(settings: Settings, host: str, port: int) -> str:
    """The exact ``GOPROXY`` value for clients, base path included (https:// with TLS)."""
    base = settings.base_path.rstrip("/")
    return f"GOPROXY={_scheme(settings)}://{_client_host(host)}:{port}{base}"


def _gosumdb_line(settings: Settings, vkey: str, host: str, port: int) -> str:
    base = settings.base_path.rstrip("/")
    where = f"{_scheme(settings)}://{_client_host(host)}:{port}{base}"
    return f"GOSUMDB={vkey} {where}/sumdb/{settings.own_sumdb}"


def _fetcher(settings: Settings) -> Fetcher:
    from goproxy_io import Fetcher, FetchSettings
    from goproxy_io.vcs_settings import VCSSettings

    return Fetcher(
        FetchSettings(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retries=settings.retries,
            fetch_deadline=settings.fetch_deadline,
            breaker_failures=settings.breaker_failures,
            breaker_cooldown=settings.breaker_cooldown,
            user_agent=f"goproxy-core/{_version()}",
            vcs=VCSSettings(
                settings.vcs_dir,
                timeout=settings.vcs_timeout,
                jobs=settings.vcs_jobs,
                refs_ttl=min(30.0, settings.list_ttl),
                insecure=settings.insecure,
            ),
        )
    )


def _check_dir(key: str, path: str, *, create: bool) -> None:
    """``path`` is a directory this process can write: made if missing (``create``), then a
    file is written in it and removed. Found here, before listening, a bad directory is one
    line naming the setting, not a failure on every request later.

    Raises:
        SettingsError: naming the setting, the path and what is wrong with it.
    """
    want = "a directory this user can create files in"
    if not create and not os.path.lexists(path):
        return
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise bad(key, "not a directory", path, want) from None
    except OSError as e:
        raise bad(key, f"cannot be created: {e.strerror}", path, want) from None
    if not os.path.isdir(path):
        raise bad(key, "not a directory", path, want)
    try:
        fd, probe = tempfile.mkstemp(prefix=".goproxy-write-check.", dir=path)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise bad(key, f"cannot be written: {e.strerror}", path, want) from None


def _check_netrc() -> None:
    """The netrc file the fetcher will read (``$NETRC`` or ``~/.netrc``), parsed now.

    Raises:
        SettingsError: ``netrc: <what> (got <file>; want ...)``, the line named.
    """
    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    if not os.path.isfile(path):
        return
    want = "a netrc file: machine HOST login NAME password SECRET"
    try:
        netrc.netrc(path)
    except netrc.NetrcParseError as e:
        raise bad("netrc", f"malformed at line {e.lineno}: {e.msg}", path, want) from None
    except (OSError, UnicodeDecodeError) as e:
        raise bad("netrc", f"cannot be read: {e}", path, want) from None


def _check_before_listening(settings: Settings) -> None:
    """Everything that can be found wrong before listening (:class:`SettingsError`)."""
    _check_dir("cache-dir", settings.cache_dir, create=True)
    _check_dir("vcs-dir", settings.vcs_dir, create=False)
    _check_netrc()
    _check_tokens(settings.tokens_file)
    _check_tls(settings)


def _check_tokens(path: str) -> None:
    """The tokens file, read now: a bad one is a line naming ``tokens-file``, not a trace."""
    from goproxy_io.tokens import TokenFileError, read_tokens

    try:
        read_tokens(path)
    except TokenFileError as e:
        what = str(e).removeprefix(f"tokens file {path}: ")
        raise bad("tokens-file", what, path, "a file `goproxy token add` wrote") from None


def _check_tls(settings: Settings) -> None:
    """The TLS files make a server context now: a bad one is one line, not a failed start."""
    if not settings.tls_cert:
        return
    from goproxy_io.tls import TLSFileError, server_context

    try:
        server_context(settings.tls_cert, settings.tls_key)
    except TLSFileError as e:
        raise bad(e.key, e.what, e.path, e.want) from None


def _watch_supervisor(supervisor: int) -> None:
    """A worker ends (drains, as on SIGTERM) when its supervisor dies, however it dies.

    On Linux the kernel sends SIGTERM when the parent dies (``PR_SET_PDEATHSIG``); everywhere
    a thread waits for the end of stdin, a pipe whose only writer is the supervisor, and
    notices a changed parent pid, and then sends the SIGTERM itself. A parent that died
    before this ran is caught by the first pid check.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG

    def parent_gone() -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    if os.getppid() != supervisor:
        parent_gone()
        return

    def wait_for_eof() -> None:
        with contextlib.suppress(OSError, ValueError):
            while os.read(sys.stdin.fileno(), 4096):
                pass
        parent_gone()

    def poll_parent() -> None:
        while os.getppid() == supervisor:
            threading.Event().wait(0.5)
        parent_gone()

    threading.Thread(target=wait_for_eof, name="supervisor-pipe", daemon=True).start()
    threading.Thread(target=poll_parent, name="supervisor-pid", daemon=True).start()


def _verify(settings: Settings, *, jobs: int | None, repair: bool) -> int:
    from goproxy_core import compile_config
    from goproxy_io import Executor

    from .verify import VerifyRun

    store = open_store(settings)
    cfg = compile_config(settings.proxy_config())
    executor = Executor(store, _fetcher(settings)) if repair else None
    try:
        run = VerifyRun(store, cfg, repair=repair, executor=executor)
        return run.run(jobs or os.cpu_count() or 1, sys.stdout, sys.stderr)
    finally:
        if executor is not None:
            executor.close()


def _tls_holder(settings: Settings) -> TLSHolder | None:
    """The server context (re-read on SIGHUP) when ``tls-cert`` is set; the files were
    checked before listening (:func:`_check_tls`)."""
    if not settings.tls_cert:
        return None
    from goproxy_io.tls import TLSFileError, TLSHolder

    try:
        return TLSHolder(settings.tls_cert, settings.tls_key)
    except TLSFileError as e:  # changed since the check: still one line
        raise SettingsError(str(e)) from None


def _serve(settings: Settings, *, reuse_port: bool, announce: bool) -> None:
    store = open_store(settings)
    config = settings.proxy_config()
    host, port = settings.host_port()
    vkey = _own_sumdb_key(settings, store) if settings.own_sumdb else ""
    where = settings.store or settings.cache_dir
    tls = _tls_holder(settings)

    def ready(bound: int) -> None:
        log.info(
            "serving on %s:%d (%s server, cache %s, upstream %s)",
            host,
            bound,
            settings.frontend,
            where,
            settings.upstream,
        )
        if announce:
            print(
                f"goproxy-core {_version()}: {settings.frontend} server, cache {where}, "
                f"upstream {settings.upstream}",
                flush=True,
            )
            print(settings.verification_summary(), flush=True)
            print(settings.quota_summary(), flush=True)
        print(_goproxy_line(settings, host, bound), flush=True)
        if announce and vkey:
            print(_gosumdb_line(settings, vkey, host, bound), flush=True)
        # The server catches signals by now: an early SIGTERM drains, an early SIGHUP reloads
        # (with TLS; without, it ends the server as it always did).
        _early.replay(hup_caught=tls is not None)

    from goproxy_io.server import Listen

    listen = Listen(
        host,
        port,
        reuse_port=reuse_port,
        ready=ready,
        grace=settings.grace,
        max_connections=settings.max_connections or None,
        tokens_file=settings.tokens_file,
        tls=tls,
    )
    fetcher = _fetcher(settings)
    if settings.frontend == "sockets":
        import goproxy_sockets

        goproxy_sockets.run(store, config, listen, fetcher=fetcher)
    elif settings.frontend == "asyncio":
        import anyio

        import goproxy_asyncio

        run = functools.partial(goproxy_asyncio.run, store, config, listen, fetcher=fetcher)
        anyio.run(run, backend="asyncio")
    else:
        import trio

        import goproxy_trio

        trio.run(functools.partial(goproxy_trio.run, store, config, listen, fetcher=fetcher))


def _serve_workers(settings: Settings, argv: Sequence[str]) -> int:
    """Run ``workers`` processes on one port (SO_REUSEPORT), forwarding signals to them.

    Each worker gets a pipe on stdin that only this process writes to, and its pid: when
    this process dies, even by SIGKILL, the workers see it and stop (:func:`_watch_supervisor`).
    A worker that exits before it listens ends the start-up: the others are stopped, its own
    one-line error is on stderr, and its status is returned.
    """
    host, port = settings.host_port()
    holder = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((host, port))
    except OSError as e:
        holder.close()
        print(f"goproxy: {_listen_error(settings, e)}", file=sys.stderr)
        return 1
    port = holder.getsockname()[1]
    from goproxy_io.metrics import MULTIPROC_ENV

    env = dict(os.environ)
    env[ENV_PREFIX + "WORKERS"] = "1"
    # One scrape of /metrics must see every worker: prometheus-client's multiprocess mode,
    # in a fresh directory of this run's own, removed at exit.
    metrics_dir = tempfile.mkdtemp(prefix="goproxy-metrics.") if settings.metrics else ""
    if metrics_dir:
        env[MULTIPROC_ENV] = metrics_dir
    else:
        env.pop(MULTIPROC_ENV, None)
    try:
        return _run_workers(settings, argv, holder, port, env, metrics_dir)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_workers(
    settings: Settings,
    argv: Sequence[str],
    holder: socket.socket,
    port: int,
    env: dict[str, str],
    metrics_dir: str,
) -> int:
    """Start the workers, wait for them (see :func:`_serve_workers`); returns the exit status."""
    host = settings.host_port()[0]
    env[ENV_PREFIX + "LISTEN"] = f"{host}:{port}"
    args = [sys.executable, "-m", "goproxy_cli", *_without(argv, "--workers", "--listen")]
    args += ["--reuse-port", "--supervisor", str(os.getpid())]
    procs: list[subprocess.Popen[str]] = []

    def forward(sig: int, _: object) -> None:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    try:
        for _ in range(settings.workers):
            procs.append(
                subprocess.Popen(
                    args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            )
    finally:
        # From here a signal goes to the workers, which hold it until they serve. SIGHUP
        # too when they serve TLS (each reloads its certificate); without TLS it has its
        # default action here, as before.
        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        tls = bool(settings.tls_cert)
        signal.signal(signal.SIGHUP, forward if tls else signal.SIG_DFL)
        hup = signal.SIGHUP in _early.held
        for sig in _early.held:
            if sig != signal.SIGHUP or tls:
                forward(sig, None)
        _early.held.clear()
        if hup and not tls:
            os.kill(os.getpid(), signal.SIGHUP)
    for proc in procs:
        assert proc.stdout is not None
        if not proc.stdout.readline():  # each worker announces its port once it listens
            code = proc.wait()
            forward(signal.SIGTERM, None)
            for other in procs:
                other.wait()
                if metrics_dir:
                    _worker_gone(other.pid, metrics_dir)
            holder.close()
            return code or 1
    holder.close()
    print(
        f"goproxy-core {_version()}: {settings.workers} {settings.frontend} workers, "
        f"cache {settings.cache_dir}, upstream {settings.upstream}",
        flush=True,
    )
    print(settings.verification_summary(), flush=True)
    print(settings.quota_summary(), flush=True)
    print(_goproxy_line(settings, host, port), flush=True)
    if settings.own_sumdb:
        print(_gosumdb_line(settings, _own_sumdb_key(settings), host, port), flush=True)
    codes = []
    for proc in procs:
        codes.append(proc.wait())
        if metrics_dir:
            _worker_gone(proc.pid, metrics_dir)
    return max(codes)


def _worker_gone(pid: int, metrics_dir: str) -> None:
    """A worker exited: its live gauges (open connections ...) leave the sums."""
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]


def _listen_error(settings: Settings, e: OSError) -> str:
    return str(
        bad(
            "listen",
            f"cannot listen: {e.strerror or e}",
            settings.listen,
            "an address of this host that is free and this user may bind",
        )
    )


def _without(argv: Sequence[str], *names: str) -> list[str]:
    """``argv`` less the named flags and their values (``--f v`` and ``--f=v``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif not arg.startswith(tuple(n + "=" for n in names)):
            out.append(arg)
    return out


def _sumdb_key(ns: argparse.Namespace) -> int:
    """``goproxy sumdb key``: print the verifier key, making the signer key on first use."""
    flags = {
        "cache_dir": ns.cache_dir,
        "own_sumdb": ns.name,
        **store_flags(ns),
        "upstream": "off",
        "sumdb": "off",
    }
    try:
        settings = load_settings(flags, config_file=ns.config)
    except SettingsError as e:
        print(f"goproxy: {e}", file=sys.stderr)
        return 2
    if not settings.own_sumdb:
        print("goproxy: sumdb key: give the database name (--name NAME)", file=sys.stderr)
        return 2
    from goproxy_io.sumdb_log import LogError

    try:
        print(_own_sumdb_key(settings), flush=True)
    except (OSError, LogError) as e:
        print(f"goproxy: sumdb key: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _early.hold()  # again, for callers that did not come through goproxy_cli.main
    ns = _parser().parse_args(argv)
    if ns.command != "serve":
        _early.release()
    if ns.command == "sumdb":
        return _sumdb_key(ns)
    if ns.command == "cache":
        return cache.run(ns)
    if ns.command == "token":
        return tokens.run(ns)
    if ns.command in ("export", "import"):
        return bundle.run(ns)
    local = ("command", "config", "reuse_port", "jobs", "repair", "supervisor", *warm.WARM_LOCAL)
    flags = {k: v for k, v in vars(ns).items() if k not in local}
    if getattr(ns, "supervisor", None):
        _watch_supervisor(ns.supervisor)
    try:
        settings = load_settings(flags, config_file=ns.config)
        if ns.command == "serve":
            _check_before_listening(settings)
    except SettingsError as e:
        print(f"goproxy: {e}", file=sys.stderr)
        return 2
    from goproxy_io import configure_logging, set_slow_request

    configure_logging(settings.log_level, settings.log_format, sys.stderr)
    logging.getLogger("goproxy.access").disabled = not settings.access_log
    set_slow_request(settings.slow_request)
    # The HTTP client's libraries log every frame at debug: they stay at warning always.
    for noisy in ("httpx", "httpcore", "h2", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if ns.command == "verify":
        if ns.jobs is not None and ns.jobs < 1:
            print(f"goproxy: {bad('jobs', 'too small', ns.jobs, '1 or more')}", file=sys.stderr)
            return 2
        return _verify(settings, jobs=ns.jobs, repair=ns.repair)
    if ns.command == "warm":
        return warm.run(settings, ns, _fetcher)
    if settings.own_sumdb:
        from goproxy_io.sumdb_log import LogError

        try:
            _own_sumdb_key(settings)  # made here once, before any worker starts
        except (OSError, LogError) as e:
            print(f"goproxy: own checksum database {settings.own_sumdb}: {e}", file=sys.stderr)
            return 1
    if settings.workers > 1 and not ns.reuse_port:
        return _serve_workers(settings, argv)
    try:
        _serve(settings, reuse_port=ns.reuse_port, announce=not ns.reuse_port)
    except SettingsError as e:
        print(f"goproxy: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"goproxy: {_listen_error(settings, e)}", file=sys.stderr)
        return 1
    return 0
