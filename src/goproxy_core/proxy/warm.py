"""Warming the cache: which files the go command will need, from what a project declares.

``goproxy warm`` and ``POST /admin/warm`` fetch, through the same engine as a client's request
(verified, recorded, stored), exactly the files the go command would fetch for a project. This
module decides which, with no I/O:

* a go.sum (:func:`parse_gosum`): every line names a version the go command has hashed, and
  so will fetch again on a fresh machine. A ``<version>/go.mod`` line is the go.mod only (the
  go command read it while loading the module graph); any other line is the module's zip
  (which ``go mod download`` fetches with its ``.info`` and ``.mod``). cmd/go modfetch/fetch.go
  ``readGoSum``: blank lines are skipped, any other line must have three fields, and the old
  bug's hash of an empty go.mod is dropped.
* ``module@version`` arguments (:func:`parse_module_arg`): that version, as ``go mod download
  module@version`` fetches it.
* a go.mod without a go.sum (:func:`plan_gomod`): the module graph as cmd/go modload loads it
  (``readModGraph`` with graph pruning, ``goModSummary`` with the main module's ``replace`` and
  ``exclude``, MVS), then what ``go mod download`` with no arguments fetches: the zips of the
  main module's requirements at their selected versions (go 1.17 and later), or of the whole
  build list (before 1.17). Each go.mod is read through a :class:`ReadGoMod` the caller
  answers, fetching it through the proxy so it is verified and stored; the planning flows
  yield a wave of them at a time (a tuple, answered by a tuple in the same order), so the
  caller fetches a wave at once.
* a go.work (:func:`parse_gowork`, :func:`plan_workspace`): the workspace's module graph
  (``readModGraph`` with workspace pruning) and the zips of its whole build list, as ``go mod
  download`` in a workspace downloads ``all``.
* the toolchain (:func:`toolchain_item`): the ``golang.org/toolchain`` version the ``go`` and
  ``toolchain`` lines select when it is newer than the caller's local Go (cmd/go toolchain
  ``Select``).

``POST /admin/warm`` (:func:`admin_warm_flow`, on with ``ProxyConfig.admin_warm``) takes a
go.sum as its body and yields one ``WarmCache`` effect for its versions; the caller fetches
them and answers a :class:`WarmSummary`, which is the JSON reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from ..errors import ProxyError
from ..modfile import ModFileError, Replace, parse_gomod
from ..modfile.gosum import GoSumError, read_gosum
from ..modfile.read import Line, LineBlock, parse_syntax
from ..module.escape import escape_path, escape_version
from ..module.paths import check_canonical
from ..semver import compare
from ..strconv import go_unquote
from .effects import WarmCache
from .engine.prefetch import prunes
from .replies import CT_JSON, Reply, text_reply
from .targets import FileKind, VersionReq

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Sequence

    from ..modfile import GoMod
    from .config import CompiledConfig

__all__ = [
    "ADMIN_WARM_PATH",
    "MAX_WARM_BODY",
    "TOOLCHAIN_MODULE",
    "WARM_JOBS",
    "GoWork",
    "ModGraph",
    "ReadGoMod",
    "WarmInputError",
    "WarmItem",
    "WarmPlan",
    "WarmSummary",
    "admin_warm_flow",
    "admin_warm_target",
    "go_compare",
    "merge",
    "parse_gosum",
    "parse_gowork",
    "parse_module_arg",
    "plan_gomod",
    "plan_workspace",
    "toolchain_item",
]

TOOLCHAIN_MODULE = "golang.org/toolchain"
"""The module the go command downloads toolchains as (cmd/go gover ``ToolchainModule``)."""

ADMIN_WARM_PATH = "/admin/warm"
"""Where ``POST`` of a go.sum warms the cache (below ``base_path``)."""

MAX_WARM_BODY = 4 << 20
"""The largest go.sum ``POST /admin/warm`` takes (a large project's is some hundred KiB)."""

WARM_JOBS = 8
"""Files a ``WarmCache`` fetches at once in the reference executor (``goproxy warm --jobs``)."""


class WarmInputError(ProxyError):
    """A go.sum, go.mod, go.work or argument that cannot be read, naming the file and line."""


class WarmItem(msgspec.Struct, frozen=True, order=True):
    """One module version to fetch.

    Attributes:
        module: the module path.
        version: the canonical version.
        zip: fetch ``.info``, ``.mod`` and ``.zip`` (``go mod download``); else the ``.mod``
            only (the go command read the go.mod while loading the module graph).
    """

    module: str
    version: str
    zip: bool

    def requests(self) -> tuple[VersionReq, ...]:
        """The requests that fetch this item's files, each as a client would send it."""
        esc, escv = escape_path(self.module), escape_version(self.version)
        kinds = (FileKind.INFO, FileKind.MOD, FileKind.ZIP) if self.zip else (FileKind.MOD,)
        return tuple(VersionReq(self.module, self.version, k, esc, escv, True) for k in kinds)


def _checked(module: str, version: str, where: str) -> None:
    try:
        check_canonical(module, version)
    except ProxyError as e:
        raise WarmInputError(f"{where}: {e}") from None


def merge(items: Iterable[WarmItem]) -> list[WarmItem]:
    """One item per module version (a zip wins over a go.mod only), sorted."""
    best: dict[tuple[str, str], bool] = {}
    for it in items:
        key = (it.module, it.version)
        best[key] = best.get(key, False) or it.zip
    return sorted(WarmItem(m, v, z) for (m, v), z in best.items())


def parse_gosum(data: bytes, file: str = "go.sum") -> list[WarmItem]:
    """The versions a go.sum lists, one :class:`WarmItem` each (zip wins over go.mod only).

    Read by :func:`goproxy_core.modfile.gosum.read_gosum` (cmd/go ``readGoSum``): a
    ``/go.mod`` line asks for the ``.mod`` only, any other line for the module itself.

    Raises:
        WarmInputError: ``malformed go.sum: <file>:<line>: <what is wrong>``.
    """
    try:
        lines = read_gosum(data, file)
    except GoSumError as e:
        raise WarmInputError(str(e)) from None
    return merge(WarmItem(x.module, x.version, not x.gomod) for x in lines)


def parse_module_arg(arg: str) -> WarmItem:
    """``module@version`` (a canonical version) as ``go mod download`` takes it: its zip.

    Raises:
        WarmInputError: not ``path@version``, or not a valid module path and canonical
            version.
    """
    path, at, version = arg.rpartition("@")
    if not at or not path or not version:
        raise WarmInputError(f"{arg}: want module@version (a canonical version, such as v1.2.3)")
    _checked(path, version, arg)
    return WarmItem(path, version, True)


# Go versions (cmd/go internal/gover) --------------------------------------------------------


def _cut_int(x: str) -> tuple[str, str] | None:
    i = 0
    while i < len(x) and x[i].isascii() and x[i].isdigit():
        i += 1
    if i == 0 or (x[0] == "0" and i != 1):
        return None
    return x[:i], x[i:]


def _parse_pre(x: str) -> tuple[str, str] | None:
    i = 0
    while i < len(x) and not ("0" <= x[i] <= "9"):
        if not ("a" <= x[i] <= "z"):
            return None
        i += 1
    if i == 0:
        return None
    kind, rest = x[:i], x[i:]
    if not rest:
        return kind, ""
    cut = _cut_int(rest)
    if cut is None or cut[1]:
        return None
    return kind, cut[0]


_ZERO = ("", "", "", "", "")


def _gover(x: str) -> tuple[str, str, str, str, str]:
    """gover ``Parse``: (major, minor, patch, kind, pre); all empty when malformed."""
    cut = _cut_int(x)
    if cut is None:
        return _ZERO
    major, x = cut
    if not x:
        return major, "0", "0", "", ""
    if x[0] != ".":
        return _ZERO
    cut = _cut_int(x[1:])
    if cut is None:
        return _ZERO
    minor, x = cut
    if not x:
        # Before 1.21 "1.x" is the release "1.x.0"; from 1.21 it is the language version.
        return major, minor, "0" if _cmp_int(minor, "21") < 0 else "", "", ""
    if x[0] == ".":
        cut = _cut_int(x[1:])
        if cut is None:
            return _ZERO
        patch, x = cut
        if not x:
            return major, minor, patch, "", ""
        pre = _parse_pre(x)
        return _ZERO if pre is None else (major, minor, patch, *pre)
    pre = _parse_pre(x)
    return _ZERO if pre is None else (major, minor, "", *pre)


def _cmp_int(x: str, y: str) -> int:
    if x == y:
        return 0
    if len(x) != len(y):
        return -1 if len(x) < len(y) else 1
    return -1 if x < y else 1


def go_compare(x: str, y: str) -> int:
    """Compare Go versions as cmd/go gover ``Compare``: ``1.21 < 1.21rc1 < 1.21.0``.

    Versions have no ``go`` prefix; malformed ones sort first and equal to each other.
    """
    vx, vy = _gover(x), _gover(y)
    for a, b in zip(vx[:3], vy[:3], strict=True):
        c = _cmp_int(a, b)
        if c:
            return c
    if vx[3] != vy[3]:
        c = -1 if vx[3] < vy[3] else 1
        if vx[2]:  # for a patch release, alpha < beta < rc < the release itself
            if not vx[3]:
                c = 1
            elif not vy[3]:
                c = -1
        return c
    return _cmp_int(vx[4], vy[4])


def _toolchain_version(name: str) -> str:
    """gover ``FromToolchain``: ``go1.22.1`` or ``custom-go1.22.1`` → ``1.22.1``; else ""."""
    if name.startswith("go"):
        v = name[2:]
    else:
        _, sep, v = name.partition("-go")
        if not sep:
            return ""
    v = v.split("-", 1)[0].split("+", 1)[0]
    return v if _gover(v) != _ZERO else ""


def toolchain_item(
    go: str | None, toolchain: str | None, *, local: str, goos: str, goarch: str
) -> WarmItem | None:
    """The toolchain a main module's ``go`` and ``toolchain`` lines switch to, if any.

    cmd/go toolchain ``Select`` under ``GOTOOLCHAIN=auto``: the minimum is the local Go
    (``local``, such as ``1.22.3``); a ``toolchain`` line newer than it wins, then a ``go``
    line newer than that (a language version from 1.21 on names its ``.0`` release). The
    switch downloads ``golang.org/toolchain@v0.0.1-<toolchain>.<GOOS>-<GOARCH>``.
    """
    min_version, chosen = local, ""
    if toolchain and toolchain != "default":
        tv = _toolchain_version(toolchain)
        if tv and go_compare(tv, min_version) > 0:
            chosen, min_version = toolchain, tv
    if go and go_compare(go, min_version) > 0:
        chosen = "go" + go
        v = _gover(go)
        if v[2] == "" and v[3] == "" and v[4] == "" and go_compare(go, "1.21") >= 0:
            chosen += ".0"
    if not chosen:
        return None
    return WarmItem(TOOLCHAIN_MODULE, f"v0.0.1-{chosen}.{goos}-{goarch}", True)


# go.work (cmd/go modload, x/mod modfile ParseWork) --------------------------------------------


class GoWork(msgspec.Struct, frozen=True):
    """A go.work: its ``go`` and ``toolchain`` lines, ``use`` directories, ``replace``."""

    go: str | None = None
    toolchain: str | None = None
    use: tuple[str, ...] = ()
    replace: tuple[Replace, ...] = ()


def _arg(tok: str, where: str) -> str:
    if tok.startswith(('"', "`")):
        try:
            return go_unquote(tok)
        except ValueError:
            raise WarmInputError(f"{where}: invalid quoted string {tok}") from None
    return tok


def parse_gowork(data: bytes, file: str = "go.work") -> GoWork:
    """Read a go.work: ``go``, ``toolchain``, ``use`` (single or blocks) and ``replace``.

    Uses the go.mod lexer (x/mod ``ParseWork`` shares it); ``godebug`` lines are ignored,
    any other directive is an error, as in x/mod.

    Raises:
        WarmInputError: naming the file and line.
    """
    try:
        syntax = parse_syntax(data, file)
    except ProxyError as e:
        raise WarmInputError(str(e)) from None
    go = toolchain = None
    use: list[str] = []
    replace: list[Replace] = []

    def one(verb: str, toks: list[str], line: Line) -> None:
        nonlocal go, toolchain
        where = f"{file}:{line.start.line}"
        if verb == "go" and len(toks) == 1:
            go = toks[0]
        elif verb == "toolchain" and len(toks) == 1:
            toolchain = toks[0]
        elif verb == "use" and len(toks) == 1:
            use.append(_arg(toks[0], where))
        elif verb == "replace":
            replace.append(_replace(toks, where))
        elif verb != "godebug":
            raise WarmInputError(f"{where}: unknown or malformed directive {verb}")

    for stmt in syntax.stmts:
        if isinstance(stmt, Line):
            one(stmt.tokens[0], stmt.tokens[1:], stmt)
        elif isinstance(stmt, LineBlock):
            for line in stmt.lines:
                one(stmt.tokens[0], line.tokens, line)
    return GoWork(go, toolchain, tuple(use), tuple(replace))


def _replace(toks: list[str], where: str) -> Replace:
    """``old [v] => new [v]`` (x/mod ``parseReplace``)."""
    if "=>" not in toks:
        raise WarmInputError(f"{where}: usage: replace module/path [v1.2.3] => other/module v1.4")
    i = toks.index("=>")
    old, new = toks[:i], toks[i + 1 :]
    if len(old) not in (1, 2) or len(new) not in (1, 2):
        raise WarmInputError(f"{where}: usage: replace module/path [v1.2.3] => other/module v1.4")
    return Replace(
        _arg(old[0], where),
        old[1] if len(old) == 2 else "",
        _arg(new[0], where),
        new[1] if len(new) == 2 else "",
    )


# The module graph (cmd/go modload readModGraph, mvs) ------------------------------------------


class ReadGoMod(msgspec.Struct, frozen=True):
    """Asks the caller for a go.mod the module graph needs.

    Attributes:
        module: the module path (after replacement).
        version: its version; "" for a directory replacement.
        dir: for a directory replacement, the directory (as written, relative to the main
            module's directory ``main_dir``); else "".
        main_dir: the directory of the main module whose ``replace`` named ``dir``.

    The answer is the go.mod's bytes, or a ``str`` saying why it could not be had (fetched
    through the proxy, so an upstream's go.mod is verified and stored like a client's).
    """

    module: str
    version: str
    dir: str = ""
    main_dir: str = ""


class ModGraph(msgspec.Struct, frozen=True):
    """A loaded module graph.

    Attributes:
        build_list: the selected version of every module in the graph but the main modules,
            sorted by path.
        loaded: every module version whose go.mod was read (after replacement), sorted.
        replaced: module version → the version actually fetched for it.
        failures: (module@version, why) for each go.mod that could not be read or parsed.
    """

    build_list: tuple[tuple[str, str], ...]
    loaded: tuple[tuple[str, str], ...]
    replaced: dict[tuple[str, str], tuple[str, str, str]]
    failures: tuple[tuple[str, str], ...]


class WarmPlan(msgspec.Struct, frozen=True):
    """What to fetch for a go.mod or go.work, and what could not be planned."""

    items: tuple[WarmItem, ...]
    failures: tuple[tuple[str, str], ...] = ()


_PRUNED, _UNPRUNED, _WORKSPACE = "pruned", "unpruned", "workspace"


class _Main(msgspec.Struct, frozen=True):
    path: str
    dir: str
    requires: tuple[tuple[str, str], ...]
    pruned: bool


class _Loader:
    """``readModGraph`` and ``goModSummary``, with go.mod reads as effects."""

    def __init__(self, mains: Sequence[_Main], replace: Sequence[tuple[Replace, str]]) -> None:
        self.main_paths = {m.path for m in mains}
        self.replace = replace
        self.exclude: set[tuple[str, str]] = set()
        self.edges: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        self.selected: dict[str, str] = {}
        self.loaded: set[tuple[str, str]] = set()
        self.replaced: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.failures: list[tuple[str, str]] = []
        self.summaries: dict[tuple[str, str], tuple[tuple[tuple[str, str], ...], bool] | None] = {}
        self.seen: set[tuple[tuple[str, str], str]] = set()

    def require(self, reqs: Iterable[tuple[str, str]]) -> None:
        for path, version in reqs:
            if path in self.main_paths:
                continue
            old = self.selected.get(path)
            if old is None or compare(version, old) > 0:
                self.selected[path] = version

    def resolve(self, path: str, version: str) -> tuple[str, str, str, str]:
        """modload ``resolveReplacement``: (path, version, dir, main_dir) actually read."""
        wild = None
        for r, main_dir in self.replace:
            if r.old_path != path:
                continue
            if r.old_version == version:
                wild = (r, main_dir)
                break
            if not r.old_version and wild is None:
                wild = (r, main_dir)
        if wild is None:
            return path, version, "", ""
        r, main_dir = wild
        if not r.new_version:  # a directory: its go.mod, read by the caller
            return path, "", r.new_path, main_dir
        return r.new_path, r.new_version, "", ""

    def ask(self, m: tuple[str, str]) -> ReadGoMod:
        """The go.mod ``goModSummary`` reads for m: its replacement's, if replaced."""
        path, version, d, main_dir = self.resolve(*m)
        if (path, version) != m or d:
            self.replaced[m] = (path, version, d)
        return ReadGoMod(path, version, d, main_dir)

    def take(self, m: tuple[str, str], ask: ReadGoMod, got: bytes | str) -> None:
        """modload ``goModSummary``: m's requirements (less excluded ones) and pruning, from
        the answer to :meth:`ask`; a failure is kept, as ``readModGraph`` keeps it."""
        path, version, d = ask.module, ask.version, ask.dir
        result: tuple[tuple[tuple[str, str], ...], bool] | None = None
        what = f"{m[0]}@{m[1]}"
        if isinstance(got, str):
            self.failures.append((what, got))
        else:
            if version:
                self.loaded.add((path, version))
            try:
                f = parse_gomod(got, file=f"{path}@{version or d}/go.mod")
            except (ModFileError, ProxyError) as e:
                self.failures.append((what, f"parsing go.mod: {e}"))
            else:
                if version and f.module is None:
                    self.failures.append((what, "parsing go.mod: missing module line"))
                elif version and f.module is not None and f.module.path not in (m[0], path):
                    self.failures.append(
                        (
                            what,
                            f"parsing go.mod: module declares its path as: {f.module.path} "
                            f"but was required as: {m[0]}",
                        )
                    )
                else:
                    reqs = tuple(
                        (r.path, r.version)
                        for r in f.require
                        if (r.path, r.version) not in self.exclude
                    )
                    result = (reqs, prunes(f.go.version if f.go is not None else None))
        self.summaries[m] = result
        if result is not None:
            self.edges[m] = result[0]
            self.require(result[0])

    def read(
        self, roots: Sequence[tuple[str, str]], pruning: str
    ) -> Generator[tuple[ReadGoMod, ...], tuple[bytes | str, ...], None]:
        """``readModGraph``'s queue, each (module, pruning) once, a wave at a time: every
        go.mod a wave needs is asked for in one yield, so the caller fetches them at once
        (the go command loads them concurrently too; the graph is the same in any order)."""
        frontier = [(m, pruning) for m in roots]
        while frontier:
            level: list[tuple[tuple[str, str], str]] = []
            for m, p in frontier:
                if m[1] == "none" or (m, p) in self.seen or m[0] in self.main_paths:
                    continue
                self.seen.add((m, p))
                level.append((m, p))
            need = sorted({m for m, _ in level if m not in self.summaries})
            if need:
                asks = tuple(self.ask(m) for m in need)
                answers = yield asks
                for m, ask, answer in zip(need, asks, answers, strict=True):
                    self.take(m, ask, answer)
            frontier = []
            for m, p in level:
                summary = self.summaries[m]
                if summary is None:
                    continue
                reqs, dep_prunes = summary
                next_p = _UNPRUNED if p == _UNPRUNED else (_PRUNED if dep_prunes else _UNPRUNED)
                if p != _PRUNED or not dep_prunes:
                    frontier += [(r, next_p) for r in reqs]

    def workspace_fixpoint(
        self, roots: Sequence[tuple[str, str]]
    ) -> Generator[tuple[ReadGoMod, ...], tuple[bytes | str, ...], None]:
        """The workspace loop of ``readModGraph``: load the selected version of every module
        whose dependencies may provide packages in ``all``, until nothing is new."""
        deps_in_all = {m[0] for m in roots}
        seen: set[tuple[str, str]] = set()
        while True:
            need: set[tuple[str, str]] = set()
            for p in sorted(deps_in_all):
                if p in self.main_paths or p not in self.selected:
                    continue
                m = (p, self.selected[p])
                if m not in seen:
                    need.add(m)
                    continue
                for r in self.edges.get(m, ()):
                    s = (r[0], self.selected.get(r[0], r[1]))
                    if compare(s[1], r[1]) > 0 and s not in seen:
                        need.add(s)
            if not need:
                return
            yield from self.read(sorted(need), _WORKSPACE)
            seen |= need
            deps_in_all |= {m[0] for m in need}

    def graph(self) -> ModGraph:
        return ModGraph(
            tuple(sorted(self.selected.items())),
            tuple(sorted(self.loaded)),
            dict(self.replaced),
            tuple(self.failures),
        )


def _dir(r: Replace) -> str:
    return r.new_path if not r.new_version else ""


def _main(f: GoMod, dir_: str) -> _Main:
    path = f.module.path if f.module is not None else ""
    reqs = tuple((r.path, r.version) for r in f.require)
    return _Main(path, dir_, reqs, prunes(f.go.version if f.go is not None else None))


def _parse_main(data: bytes, file: str) -> GoMod:
    try:
        f = parse_gomod(data, file=file, strict=True)
    except (ModFileError, ProxyError) as e:
        raise WarmInputError(str(e)) from None
    if f.module is None:
        raise WarmInputError(f"{file}: no module directive")
    return f


def _downloads(g: ModGraph, paths: Iterable[str], selected: dict[str, str]) -> list[WarmItem]:
    """What ``go mod download`` fetches for these module paths: each at its selected version,
    or its replacement's (nothing for a directory replacement)."""
    out: list[WarmItem] = []
    for p in paths:
        v = selected.get(p)
        if v is None or v == "none":
            continue
        path, version, d = g.replaced.get((p, v), (p, v, ""))
        if version and not d:
            out.append(WarmItem(path, version, True))
    return out


def plan_gomod(
    data: bytes, *, file: str = "go.mod", dir: str = "."
) -> Generator[tuple[ReadGoMod, ...], tuple[bytes | str, ...], WarmPlan]:
    """The files ``go mod download`` (no arguments) fetches for a main module's go.mod.

    Loads the module graph as modload ``readModGraph`` does from the main module's
    requirements (pruned from go 1.17 on: a dependency's own requirements are read only when
    its go.mod does not prune), applying the main module's ``replace`` (exact version first,
    then a whole-module one) and ``exclude`` (dropped requirements). Every go.mod read is
    planned (``.mod``); then, as modcmd ``runDownload``: from go 1.17 the zips of the main
    module's requirements at their selected versions, before it the zips of the whole build
    list. The go.mod is read as it stands: a go.mod that is not tidy (a requirement below
    its selected version) is not tidied first, as the go command would before downloading.

    Raises:
        WarmInputError: the main go.mod does not parse (naming its line).
    """
    f = _parse_main(data, file)
    main = _main(f, dir)
    loader = _Loader([main], [(r, dir) for r in f.replace])
    loader.exclude = {(e.path, e.version) for e in f.exclude}
    roots = [r for r in main.requires if r not in loader.exclude]
    loader.require(roots)
    yield from loader.read(roots, _PRUNED if main.pruned else _UNPRUNED)
    g = loader.graph()
    items = [WarmItem(p, v, False) for p, v in g.loaded]
    selected = dict(g.build_list)
    if main.pruned:
        items += _downloads(g, [p for p, _ in main.requires], selected)
    elif main.requires:
        items += _downloads(g, selected, selected)
    return WarmPlan(tuple(merge(items)), g.failures)


def plan_workspace(
    work: GoWork, mods: Sequence[tuple[str, bytes]], *, dir: str = "."
) -> Generator[tuple[ReadGoMod, ...], tuple[bytes | str, ...], WarmPlan]:
    """The files ``go mod download`` fetches in a workspace: its graph and ``all``.

    ``mods`` are the used modules' (directory, go.mod bytes); ``dir`` is the go.work's
    directory (its directory replacements are relative to it). The graph is modload
    ``readModGraph`` with workspace pruning (each main module's requirements, one level of
    theirs, then the loop over modules whose dependencies may provide packages in ``all``);
    ``replace`` of the go.work wins over the modules' own. ``go mod download`` in a workspace
    downloads ``all``: the zip of every module in the build list.
    """
    mains = [_main(_parse_main(data, f"{d}/go.mod"), d) for d, data in mods]
    replace = [(r, dir) for r in work.replace]
    excludes: set[tuple[str, str]] = set()
    for d, data in mods:
        f = parse_gomod(data, file=f"{d}/go.mod", strict=True)
        replace += [(r, d) for r in f.replace]
        excludes |= {(e.path, e.version) for e in f.exclude}
    loader = _Loader(mains, replace)
    loader.exclude = excludes
    roots = [r for m in mains for r in m.requires if r not in excludes]
    loader.require(roots)
    yield from loader.read(roots, _WORKSPACE)
    yield from loader.workspace_fixpoint(roots)
    g = loader.graph()
    selected = dict(g.build_list)
    items = [WarmItem(p, v, False) for p, v in g.loaded]
    items += _downloads(g, selected, selected)
    return WarmPlan(tuple(merge(items)), g.failures)


# What a warm did, and POST /admin/warm ----------------------------------------------------


class WarmSummary(msgspec.Struct, kw_only=True):
    """What a warm did: the answer to ``WarmCache``, the JSON of ``POST /admin/warm``.

    Attributes:
        versions: module versions asked for.
        files: files they make (``.info``, ``.mod``, ``.zip``; a go.mod-only line one).
        fetched: files fetched now (verified, stored).
        present: files already in the cache.
        failed: files (or go.mod files of the graph) that could not be had.
        bytes: bytes fetched now.
        seconds: how long it took.
        failures: ``<store key or module@version>: <why>``, one per failure.
    """

    versions: int = 0
    files: int = 0
    fetched: int = 0
    present: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failures: list[str] = msgspec.field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary for a terminal: one line per failure, then the totals."""
        out = [f"failed {f}" for f in self.failures]
        out.append(
            f"warm: {self.versions} versions, {self.files} files in {self.seconds:.1f}s: "
            f"{self.fetched} fetched ({_size(self.bytes)}), {self.present} already cached, "
            f"{self.failed} failed"
        )
        return out


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"


def admin_warm_target(target: bytes, base_path: str) -> bool:
    """Whether a request target (query ignored) is ``<base_path>/admin/warm``."""
    return target.split(b"?", 1)[0] == (base_path + ADMIN_WARM_PATH).encode()


def admin_warm_flow(
    cfg: CompiledConfig, method: bytes, body: bytes | None
) -> Generator[WarmCache, object, Reply]:
    """``POST /admin/warm``: the versions of the go.sum ``body``, fetched; the summary as JSON.

    404 when ``admin_warm`` is off (nothing says the endpoint exists); 405 for any method but
    ``POST``; 413 for a body over :data:`MAX_WARM_BODY` (``body`` None: the caller stopped
    reading it); 400 naming the first bad line (:func:`parse_gosum`). Otherwise one
    ``WarmCache`` and a 200 whose JSON is its :class:`WarmSummary` (failures included: the
    request was done; whether every file was had is in ``failed``).
    """
    if not cfg.config.admin_warm:
        return text_reply(404, "not found: POST /admin/warm is off (admin-warm = false)")
    if method != b"POST":
        got = method.decode("ascii", "replace")
        reply = text_reply(405, f"method {got} not allowed: POST a go.sum to warm the cache")
        return msgspec.structs.replace(reply, allow="POST")
    if body is None or len(body) > MAX_WARM_BODY:
        return text_reply(413, f"request body too large: a go.sum of at most {MAX_WARM_BODY} bytes")
    try:
        items = parse_gosum(body, "request body")
    except WarmInputError as e:
        return text_reply(400, str(e))
    got_summary = yield WarmCache(tuple(items), cfg.config)
    assert isinstance(got_summary, WarmSummary), got_summary
    return Reply(200, CT_JSON, msgspec.json.encode(got_summary) + b"\n")
