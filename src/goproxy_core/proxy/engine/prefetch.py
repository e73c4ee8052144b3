"""Prefetching the module graph's next wave: which files, and the flow fetching one.

The go command loads the module graph wave by wave: each go.mod it reads names the modules
whose go.mod it reads next (cmd/go modload/buildlist.go ``readModGraph``, through
``goModSummary``, reads the ``require`` lines of each module in the graph). Through a cold
proxy each wave pays the proxy's miss on top of the upstream's latency. So when a ``.mod``
fetched cold from an upstream proxy is served, the flow yields a ``Prefetch`` of the ``.mod``
and ``.info`` of every version that go.mod requires (:func:`next_wave`), and the caller fetches
them in the background (``handle_prefetch``), verified and stored as a client's request
would, so when the go command asks they are hits.

Bounds, so the proxy never asks its upstreams for more than the go command could:

* Only the requires of a go.mod just served, parsed as the go command parses a dependency's
  go.mod (x/mod ``modfile.ParseLax``: ``replace`` and ``exclude`` are the main module's and
  are ignored), canonical versions valid for their path only.
* Never for a module matching the private patterns (its name reaches no proxy) or the
  ``nosumdb`` patterns (the operator's mark of modules kept out of public services), and
  never from ``direct``: the walk ends at the first ``direct`` entry.
* A prefetched ``.mod`` that was itself a miss prefetches its own requires, one hop deeper,
  only when that go.mod does not prune the graph (no ``go`` directive, or one below 1.17:
  cmd/go modload ``pruningForGoVersion``), up to :data:`MAX_PREFETCH_DEPTH` hops from the
  client's request. That is the go command's own rule (modload/buildlist.go
  ``readModGraph``, ``enqueue``): in a pruned graph, the requires of a dependency whose
  go.mod prunes are graph nodes but their go.mod files are never read, so prefetching them
  only fetches versions nobody asks for (on a real graph of 255 modules, depths 2 and 3 of
  every go.mod were 1,700 files with no client hit). The requires of a go.mod the client
  asked for are still prefetched whatever its ``go`` line: the go command reads the go.mod of
  every module its main go.mod lists, and those lists overlap a dependency's requires.
  Past :data:`MAX_PREFETCH_DEPTH` the client's own requests drive the walk again. The caller
  bounds the total (a queue that drops).
* A prefetch failure is not remembered (neither ``negative_ttl`` nor ``failure_ttl``): no
  client asked, and a remembered transient failure would be answered to a client whose
  request never reached the upstream. A client asking for the file walks the upstreams as
  without prefetch, and its own failure is remembered as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import ProxyError
from ...modfile import parse_gomod
from ...module.escape import escape_path, escape_version
from ...module.paths import canonical_version, check
from ..targets import FileKind, VersionReq

if TYPE_CHECKING:
    from ..config import CompiledConfig

__all__ = ["MAX_PREFETCH_DEPTH", "next_wave", "prunes"]

MAX_PREFETCH_DEPTH = 3
"""Hops of requires prefetched from one client's ``.mod``: its requires (1), theirs (2) ..."""


_PRUNING_SINCE = (1, 17)
"""The first language version whose go.mod prunes the graph (gover.ExplicitIndirectVersion)."""


def prunes(go_version: str | None) -> bool:
    """Whether a go.mod with this ``go`` directive prunes the module graph.

    cmd/go modload ``pruningForGoVersion``: below 1.17 (or no ``go`` line) the go command
    reads the requires of the module's requires too. Pre-release forms (``1.17rc1``) sort
    after the language version ``1.17`` (gover.Compare), so they prune; a version that does
    not start with two numbers counts as not pruning, as an absent one.
    """
    if go_version is None:
        return False
    major, _, rest = go_version.partition(".")
    minor = ""
    for ch in rest:
        if not ch.isdigit():
            break
        minor += ch
    if not major.isdigit() or not minor:
        return False
    return (int(major), int(minor)) >= _PRUNING_SINCE


def next_wave(
    cfg: CompiledConfig, gomod: bytes, *, prefetched: bool = False
) -> tuple[VersionReq, ...]:
    """The ``.mod`` and ``.info`` requests of every version ``gomod`` requires, each once.

    Empty when the go.mod does not parse (the go command would stop there too) or names no
    version worth asking for: a module matching ``private`` or ``nosumdb``, or a version that
    is not canonical or not valid for its path (cmd/go modfetch ``checkMod`` would refuse it).
    With ``prefetched`` (``gomod`` was itself a prefetch, not a client's request), also empty
    when the go.mod prunes the graph (:func:`prunes`): the go command never reads the go.mod
    files of such a module's requires.
    """
    try:
        parsed = parse_gomod(gomod)
    except ProxyError:
        return ()
    if prefetched and prunes(parsed.go.version if parsed.go is not None else None):
        return ()
    out: list[VersionReq] = []
    seen: set[tuple[str, str]] = set()
    for req in parsed.require:
        path, version = req.path, req.version
        if (path, version) in seen or canonical_version(version) != version:
            continue
        seen.add((path, version))
        if cfg.private.matches(path) or cfg.nosumdb.matches(path):
            continue
        try:
            check(path, version)
            escaped, escaped_version = escape_path(path), escape_version(version)
        except ProxyError:
            continue
        for kind in (FileKind.MOD, FileKind.INFO):
            out.append(VersionReq(path, version, kind, escaped, escaped_version, True))
    return tuple(out)
