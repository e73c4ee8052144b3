"""Warming the cache: fetching planned module versions through the engine, in-process.

``goproxy warm`` and ``POST /admin/warm`` (the core's ``WarmCache``, which
:class:`~goproxy_io.Executor` answers with :meth:`Warmer.run`) hand a list of
:class:`~goproxy_core.proxy.warm.WarmItem` to :class:`Warmer`. Each file is one engine
request (``handle_request``), carried out by the server's own :class:`~goproxy_io.Executor`
exactly as a client's ``GET`` would be: served from the store when there (so a re-run after
a kill fetches only the rest), else walked through the upstreams, verified against the
checksum database, recorded and committed; concurrent requests for one file, in this
process, share one fetch. At most ``jobs`` files are fetched at once. Prefetch is off for
these requests (the config a warm runs with is the caller's, with ``prefetch=False``): a
warm fetches what the plan says and nothing more.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import TYPE_CHECKING

import msgspec

from goproxy_core import ProxyError, compile_config
from goproxy_core.proxy import keys
from goproxy_core.proxy.engine import handle_request
from goproxy_core.proxy.replies import error_reply
from goproxy_core.proxy.warm import ReadGoMod, WarmItem, WarmPlan, WarmSummary
from goproxy_stores import ops

from .executor import Pending

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable

    from goproxy_core import ProxyConfig
    from goproxy_core.proxy.config import CompiledConfig
    from goproxy_core.proxy.replies import Reply
    from goproxy_core.proxy.targets import VersionReq

    from .executor import Executor

__all__ = ["FileOutcome", "Warmer", "warm_config"]

MAX_GOMOD = 16 << 20
"""The largest go.mod read back for the module graph (the engine's own bound on a .mod)."""


def warm_config(config: ProxyConfig) -> CompiledConfig:
    """The compiled config a warm runs with: the server's, prefetch off."""
    return compile_config(msgspec.structs.replace(config, prefetch=False))


class FileOutcome(msgspec.Struct, frozen=True):
    """One file of a warm: its store key, whether it was fetched now or already there, its
    size, and why it failed ("" if it did not)."""

    key: str
    fetched: bool = False
    size: int = 0
    error: str = ""


class Warmer:
    """Runs warm requests through ``executor`` with ``cfg`` (see :func:`warm_config`).

    Args:
        executor: the executor (and so the store and fetcher) a server or the CLI uses.
        cfg: the compiled configuration, prefetch off.
        now: the wall clock (a test may pass its own).
    """

    def __init__(
        self,
        executor: Executor,
        cfg: CompiledConfig,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.executor = executor
        self.cfg = cfg
        self.now = now
        self._lock = threading.Lock()
        self._done: dict[str, FileOutcome] = {}

    def request(self, req: VersionReq) -> Reply:
        """One file, as a client's ``GET`` of it: the engine's reply."""
        pending = Pending()
        flow = handle_request(self.cfg, req, self.now())
        result: object = None
        try:
            while True:
                try:
                    effect = flow.send(result)
                except StopIteration as stop:
                    reply: Reply = stop.value
                    return reply
                result = self.executor.perform(effect, pending, None)
        except ProxyError as e:
            return error_reply(e)
        finally:
            self.executor.abandon(pending)

    def fetch(self, req: VersionReq) -> FileOutcome:
        """Fetch one file (once per run: a second ask returns the first outcome)."""
        key = keys.version_key(req.escaped, req.escaped_version, req.kind.value)
        with self._lock:
            done = self._done.get(key)
        if done is not None:
            return msgspec.structs.replace(done, fetched=False)
        reply = self.request(req)
        if reply.status == 200:
            hit = "; hit" in reply.cache_status
            outcome = FileOutcome(key, fetched=not hit, size=reply.length)
        else:
            why = " ".join(reply.body.decode("utf-8", "replace").split()) or "no reason given"
            outcome = FileOutcome(key, error=f"{reply.status} {why}")
        with self._lock:
            self._done[key] = outcome
        return outcome

    def gomod(self, ask: ReadGoMod) -> bytes | str:
        """A go.mod the module graph needs, fetched (verified, stored) through the engine.

        Directory replacements are the caller's to read; this answers module versions only.
        """
        item = WarmItem(ask.module, ask.version, False)
        try:
            (req,) = item.requests()
        except ProxyError as e:
            return str(e)
        outcome = self.fetch(req)
        if outcome.error:
            return outcome.error
        data = ops.read_small(self.executor.store, outcome.key, MAX_GOMOD)
        if data is None:
            return f"{outcome.key}: stored, but could not be read back"
        return data.data

    def plan(
        self,
        flow: Generator[tuple[ReadGoMod, ...], tuple[bytes | str, ...], WarmPlan],
        read_dir: Callable[[ReadGoMod], bytes | str],
        jobs: int = 8,
    ) -> WarmPlan:
        """Drive a planning flow (``plan_gomod``, ``plan_workspace``): each wave of go.mod
        files at once, ``jobs`` at a time, a module version's through :meth:`gomod`, a
        directory's through ``read_dir``."""

        def one(ask: ReadGoMod) -> bytes | str:
            return read_dir(ask) if ask.dir else self.gomod(ask)

        answers: tuple[bytes | str, ...] | None = None
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            while True:
                try:
                    asks = flow.send(answers)  # type: ignore[arg-type]
                except StopIteration as stop:
                    plan: WarmPlan = stop.value
                    return plan
                answers = tuple(pool.map(one, asks))

    def run(
        self,
        items: Iterable[WarmItem],
        jobs: int,
        *,
        failures: Iterable[tuple[str, str]] = (),
        started: float | None = None,
        step: Callable[[FileOutcome], None] | None = None,
        total: Callable[[int], None] | None = None,
    ) -> WarmSummary:
        """Fetch every file of ``items``, ``jobs`` at once; the summary.

        ``failures`` (what, why) from planning count as failed; ``step`` is called after each
        file (a progress bar), ``total`` once with the number of files.
        """
        t0 = time.monotonic() if started is None else started
        item_list = list(items)
        reqs = [r for it in item_list for r in it.requests()]
        if total is not None:
            total(len(reqs))
        s = WarmSummary(versions=len(item_list), files=len(reqs))
        for what, why in failures:
            s.failed += 1
            s.failures.append(f"{what}: {why}")
        outcomes: list[FileOutcome] = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            for outcome in pool.map(self._first, reqs):
                outcomes.append(outcome)
                if step is not None:
                    step(outcome)
        for o in outcomes:
            if o.error:
                s.failed += 1
                s.failures.append(f"{o.key}: {o.error}")
            elif o.fetched:
                s.fetched += 1
                s.bytes += o.size
            else:
                s.present += 1
        s.seconds = round(time.monotonic() - t0, 3)
        return s

    def _first(self, req: VersionReq) -> FileOutcome:
        """:meth:`fetch`, but a file the planning already fetched counts as fetched once."""
        key = keys.version_key(req.escaped, req.escaped_version, req.kind.value)
        with self._lock:
            done = self._done.pop(key, None)
        if done is not None:
            return done
        return self.fetch(req)
