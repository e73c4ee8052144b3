"""From a module path to its source repository, as the go command finds it in module mode.

This is golang/go ``src/cmd/go/internal/vcs/vcs.go`` (``RepoRootForImportPath`` with
``PreferMod``, as ``modfetch.lookupDirect`` calls it), in three steps (reading the go-import
tags of a page is :mod:`.discovery`, Go's ``discovery.go``; the URL rules are
:mod:`.neturl`, Go's ``net/url``):

1. A static table of hosting sites (``github.com``, ``bitbucket.org``, ...) and the general
   VCS-qualified form ``host/path.git[/sub]``. For the latter the repository's scheme is found
   by probing the VCS's schemes in order (``git ls-remote``); plain-text schemes (``git://``,
   ``http://``) only for paths matching the GOINSECURE patterns.
2. Otherwise go-get discovery: ``GET https://<path>?go-get=1`` (then ``http://`` when the path
   is insecure and HTTPS got no answer), the ``<meta name="go-import" content="prefix vcs url
   [subdir]">`` tags of the page, and, when the matching prefix is not the path itself, a second
   fetch for the prefix that must name the same repository.
3. When both fail, a last static table (``launchpad.net``).

The core does no I/O: :func:`resolve_repo` is a generator that yields :class:`DiscoveryGet`
and :class:`ProbeRepo` queries and receives their answers (``flow.send(answer)``), and returns
a :class:`RepoRoot`. Every failure raises :class:`RepoResolveError` ("not here").

Left out: GOVCS (this proxy's policy is :func:`require_git`), GIT_ALLOW_PROTOCOL (the core
reads no environment), and the special cases Go keeps for its own test suite (``example.net``,
``rsc.io``, the vcs-test server).
"""

from __future__ import annotations

import http
import re
from collections.abc import Generator
from typing import TYPE_CHECKING, NamedTuple, TypeAlias, TypeVar

import msgspec

from ..errors import LocalProtocolError, ProxyError
from ..strconv import go_quote
from .discovery import MetaImport, parse_meta_go_imports
from .neturl import URLError, escape, parse_url, unescape

if TYPE_CHECKING:
    from ..module.paths import PrefixPatterns

__all__ = [
    "DiscoveryGet",
    "DiscoveryResult",
    "ImportMismatchError",
    "ProbeRepo",
    "RepoResolveError",
    "RepoRoot",
    "ResolveFlow",
    "ResolveQuery",
    "UnsupportedVCSError",
    "discovery_url",
    "match_general",
    "match_go_import",
    "require_git",
    "resolve_repo",
    "validate_repo_root",
]

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Queries, answers, results, errors


class DiscoveryGet(msgspec.Struct, frozen=True):
    """``GET url`` and report what came back. Answer: :class:`DiscoveryResult`.

    Mostly a go-get discovery page (``https://<prefix>?go-get=1``, or ``http://...`` for a path
    matching the insecure patterns whose HTTPS fetch got no answer); also the one probe of the
    ``launchpad.net`` rule. Redirects are followed (at most 10, as Go does). A non-200 answer is
    still an answer: the go command reads ``go-import`` tags from 404 pages too.

    Attributes:
        url: the URL to fetch.
        insecure: the module path matches the insecure (GOINSECURE) patterns: do not verify
            the TLS certificate of an ``https`` URL (Go's ``web.Insecure`` security mode).
    """

    url: str
    insecure: bool = False


class DiscoveryResult(msgspec.Struct, frozen=True):
    """The answer to a :class:`DiscoveryGet`.

    Attributes:
        status: the HTTP status; 0 when no answer arrived (connection refused, TLS failure,
            timeout, too many redirects).
        body: the body, or at most its first N bytes (the caller bounds it; the tags are in
            the ``<head>``).
        error: for status 0, what went wrong (it ends up in the error message).
    """

    status: int
    body: bytes = b""
    error: str = ""


class ProbeRepo(msgspec.Struct, frozen=True):
    """Whether a repository answers at ``url``. Answer: bool.

    The go command runs the VCS's ping command: ``git ls-remote <url>`` (``hg identify``,
    ``svn info``, ``bzr info`` for the others). ``url`` may use any of the VCS's schemes,
    ``ssh://`` and ``git+ssh://`` included; the caller should make such probes fail fast
    rather than prompt (for git: ``GIT_TERMINAL_PROMPT=0``, ``ssh -o BatchMode=yes``).

    Attributes:
        vcs: ``"git"``, ``"hg"``, ``"svn"`` or ``"bzr"`` (never ``"fossil"``: Go does not
            probe it).
        url: ``scheme://host/path``.
    """

    vcs: str
    url: str


class RepoRoot(msgspec.Struct, frozen=True):
    """Where a module's code lives (Go's ``vcs.RepoRoot``).

    Attributes:
        root: the import-path prefix that is the repository root, e.g. ``github.com/a/b``
            or ``git.example.test/team/repo.git``.
        url: the repository URL, scheme included, e.g. ``https://github.com/a/b``; for
            ``vcs="mod"``, the base URL of a module proxy.
        vcs: ``"git"``, ``"hg"``, ``"svn"``, ``"bzr"``, ``"fossil"``, or ``"mod"`` (a
            go-import tag naming a module proxy that serves the module).
        subdir: the directory inside the repository that corresponds to ``root`` (the
            optional fourth field of a go-import tag); empty for the repository's top.
    """

    root: str
    url: str
    vcs: str
    subdir: str = ""


ResolveQuery: TypeAlias = DiscoveryGet | ProbeRepo
"""Everything :func:`resolve_repo` may yield."""

ResolveFlow: TypeAlias = Generator[ResolveQuery, object, T]
"""A resolution flow: yields queries, receives their answers, returns ``T``."""


class RepoResolveError(ProxyError):
    """No repository can be found for a module path; the message says why, in Go's words.

    Attributes:
        path: the module path that was being resolved.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class ImportMismatchError(RepoResolveError):
    """go-import tags were found, but none of their prefixes is a prefix of the path.

    Attributes:
        mismatches: the prefixes of the tags that did not match, in page order.
    """

    def __init__(self, path: str, mismatches: tuple[str, ...]) -> None:
        self.mismatches = mismatches
        super().__init__(
            ", ".join(f"meta tag {p} did not match import path {path}" for p in mismatches), path
        )


class UnsupportedVCSError(ProxyError):
    """The repository was found but uses something other than git, which this proxy lacks."""


def require_git(root: RepoRoot) -> RepoRoot:
    """Return ``root`` if it is a git repository; raise :class:`UnsupportedVCSError` if not."""
    if root.vcs == "git":
        return root
    if root.vcs == "mod":
        raise UnsupportedVCSError(
            f"{root.root}: go-import tag names a module proxy ({root.url}), "
            "which this proxy does not forward to (only git repositories are supported)"
        )
    raise UnsupportedVCSError(
        f"{root.root}: version control system {root.vcs} is not supported by this proxy (only git)"
    )


class _Failure(Exception):
    """An internal failure with Go's text; ``names_path``: the text already names the path."""

    def __init__(self, reason: str, *, names_path: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.names_path = names_path


class _UnknownSite(Exception):
    """No static rule applies: go-get discovery is needed (Go's ``errUnknownSite``)."""


# --------------------------------------------------------------------------------------------
# The version control systems (vcs.go vcsHg, vcsGit, vcsSvn, vcsBzr, vcsFossil)

# Every VCS the go command knows, in Go's vcsList order, with its schemes in probing order.
_SCHEMES: dict[str, tuple[str, ...]] = {
    "hg": ("https", "http", "ssh"),
    "git": ("git", "https", "http", "git+ssh", "ssh"),
    "svn": ("https", "http", "svn", "svn+ssh"),
    "bzr": ("https", "http", "bzr", "bzr+ssh"),
    "fossil": ("https", "http"),
}
# Fossil has no ping command: Go takes its first allowed scheme without asking.
_PINGABLE = frozenset({"hg", "git", "svn", "bzr"})
# vcs.go defaultSecureScheme. (Go also honours GIT_ALLOW_PROTOCOL here; the core reads no
# environment, so the default list applies.)
_SECURE_SCHEMES = frozenset({"https", "git+ssh", "bzr+ssh", "svn+ssh", "ssh"})


def _has_path_prefix(s: str, prefix: str) -> bool:
    """Whether slash-separated ``s`` begins with the elements of ``prefix`` (str.HasPathPrefix)."""
    if len(s) == len(prefix):
        return s == prefix
    if not prefix:
        return True
    if len(s) > len(prefix) and (prefix[-1] == "/" or s[len(prefix)] == "/"):
        return s.startswith(prefix)
    return False


# --------------------------------------------------------------------------------------------
# The static tables (vcs.go vcsPaths, vcsPathsAfterDynamic)


class _VCSPath(NamedTuple):
    prefix: str  # the path prefix this rule applies to; "" for the general rule
    regexp: re.Pattern[str] | None  # None: the general rule (_match_general)
    vcs: str  # "" when the regexp names it
    repo: str  # URL template; "" when the regexp names it (then it lacks a scheme)
    check: str  # "", "no_vcs_suffix" or "launchpad"


def _rx(pattern: str) -> re.Pattern[str]:
    # Go's regexp: \w is ASCII and $ is the end of the text (no trailing-newline match).
    return re.compile(pattern.replace("$", r"\Z"), re.ASCII)


_VCS_PATHS: tuple[_VCSPath, ...] = (
    _VCSPath(
        "github.com",
        _rx(r"^(?P<root>github\.com/[\w.\-]+/[\w.\-]+)(/[\w.\-]+)*$"),
        "git",
        "https://{root}",
        "no_vcs_suffix",
    ),
    _VCSPath(
        "bitbucket.org",
        _rx(r"^(?P<root>bitbucket\.org/(?P<bitname>[\w.\-]+/[\w.\-]+))(/[\w.\-]+)*$"),
        "git",
        "https://{root}",
        "no_vcs_suffix",
    ),
    # IBM DevOps Services (JazzHub): still in Go's table.
    _VCSPath(
        "hub.jazz.net/git",
        _rx(r"^(?P<root>hub\.jazz\.net/git/[a-z0-9]+/[\w.\-]+)(/[\w.\-]+)*$"),
        "git",
        "https://{root}",
        "no_vcs_suffix",
    ),
    _VCSPath(
        "git.apache.org",
        _rx(r"^(?P<root>git\.apache\.org/[a-z0-9_.\-]+\.git)(/[\w.\-]+)*$"),
        "git",
        "https://{root}",
        "",
    ),
    _VCSPath(
        "git.openstack.org",
        _rx(r"^(?P<root>git\.openstack\.org/[\w.\-]+/[\w.\-]+)(\.git)?(/[\w.\-]+)*$"),
        "git",
        "https://{root}",
        "",
    ),
    _VCSPath(
        "chiselapp.com",
        _rx(r"^(?P<root>chiselapp\.com/user/[A-Za-z0-9]+/repository/[\w.\-]+)$"),
        "fossil",
        "https://{root}",
        "",
    ),
    # gitlab.com is deliberately absent, as in Go: its projects live in nested subgroups, so
    # the repository root cannot be read off the path; gitlab.com answers go-get discovery.
    #
    # The general rule, last: see _match_general.
    _VCSPath("", None, "", "", ""),
)

_VCS_PATHS_AFTER_DYNAMIC: tuple[_VCSPath, ...] = (
    # Launchpad (golang.org/issue/11436): tried only when discovery failed.
    _VCSPath(
        "launchpad.net",
        _rx(
            r"^(?P<root>launchpad\.net/((?P<project>[\w.\-]+)(?P<series>/[\w.\-]+)?"
            r"|~[\w.\-]+/(\+junk|[\w.\-]+)/[\w.\-]+))(/[\w.\-]+)*$"
        ),
        "bzr",
        "https://{root}",
        "launchpad",
    ),
)


def _search(regexp: re.Pattern[str], path: str) -> dict[str, str] | None:
    m = regexp.search(path)
    return None if m is None else {k: v or "" for k, v in m.groupdict().items()}


_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_ELEMENT_CHARS = _HOST_CHARS | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_VCS_SUFFIXES = tuple("." + vcs for vcs in ("bzr", "fossil", "git", "hg", "svn"))


def match_general(path: str) -> dict[str, str] | None:
    r"""Go's general rule for VCS-qualified paths, matched without backtracking.

    Go matches ``path`` against the unanchored pattern::

        (?P<root>(?P<repo>([a-z0-9.\-]+\.)+[a-z0-9.\-]+(:[0-9]+)?(/~?[\w.\-]+)+?)
        \.(?P<vcs>bzr|fossil|git|hg|svn))(/~?[\w.\-]+)*$

    A backtracking engine needs cubic time for it on long paths that almost match. This is
    the same leftmost-first match in linear time. The host part always spans a whole run of
    host characters (':' or '/' must follow it). Then every element must be well-formed, and
    the root ends after the *last* element that ends in ``.<vcs>``: despite the lazy ``+?``,
    each element's greedy ``[\w.\-]+`` first takes the whole element, so the engine tries
    more elements before it backs up to a ``.<vcs>`` inside an earlier one. So
    ``example.test/a.git/b.git/c`` has the root ``example.test/a.git/b.git``.

    Returns:
        ``root``, ``repo`` and ``vcs`` as Go's submatches, or None for no match.
    """
    n = len(path)
    # For each '/' at q, right to left: is path[q:] a run of /~?[\w.\-]+ elements (tail_ok),
    # and where does the repository end if its elements start at q (found: end of the repo
    # part, end of the root, vcs)?
    tail_ok = {n: True}
    found: dict[int, tuple[int, int, str]] = {}
    end = n
    for q in range(n - 1, -1, -1):
        if path[q] != "/":
            continue
        element = path[q + 1 : end]
        chars = element[1:] if element.startswith("~") else element
        valid = bool(chars) and all(c in _ELEMENT_CHARS for c in chars)
        tail_ok[q] = valid and tail_ok[end]
        if valid:
            suffix = next((x for x in _VCS_SUFFIXES if chars.endswith(x)), "")
            if end in found:
                found[q] = found[end]
            elif suffix and len(chars) > len(suffix) and tail_ok[end]:
                found[q] = (end - len(suffix), end, suffix[1:])
        end = q
    for start in range(n):
        if path[start] not in _HOST_CHARS or (start and path[start - 1] in _HOST_CHARS):
            continue
        host_end = start
        while host_end < n and path[host_end] in _HOST_CHARS:
            host_end += 1
        if "." not in path[start + 1 : host_end - 1]:
            continue
        at = host_end
        if at < n and path[at] == ":":
            at += 1
            while at < n and "0" <= path[at] <= "9":
                at += 1
            if at == host_end + 1:
                continue
        if at in found:
            repo_end, root_end, vcs = found[at]
            return {"root": path[start:root_end], "repo": path[start:repo_end], "vcs": vcs}
    return None


_EXPAND = re.compile(r"\{([^{}]*)\}")


def _expand(match: dict[str, str], s: str) -> str:
    """Replace each ``{k}`` in ``s`` by ``match[k]`` once (vcs.go expand)."""
    return _EXPAND.sub(lambda m: match.get(m.group(1), m.group(0)), s)


def _http_prefix(s: str) -> str:
    for prefix in ("http:", "https:"):
        if s.startswith(prefix):
            return prefix
    return ""


def _from_vcs_paths(
    path: str, secure_only: bool, table: tuple[_VCSPath, ...]
) -> ResolveFlow[RepoRoot]:
    """Map ``path`` with a static table (vcs.go repoRootFromVCSPaths).

    Raises:
        _UnknownSite: no rule applies.
        _Failure: a rule applies but the path breaks it, or no scheme answers.
    """
    # (Go's special cases for example.net and rsc.io only serve its own test suite.)
    prefix = _http_prefix(path)
    if prefix:
        raise _Failure(f"{go_quote(prefix + '//')} not allowed in import path")
    for srv in table:
        if not _has_path_prefix(path, srv.prefix):
            continue
        groups = match_general(path) if srv.regexp is None else _search(srv.regexp, path)
        if groups is None:
            if srv.prefix:
                raise _Failure(
                    f"invalid {srv.prefix} import path {go_quote(path)}", names_path=True
                )
            continue
        match = {**groups, "prefix": srv.prefix + "/", "import": path}
        if srv.vcs:
            match["vcs"] = _expand(match, srv.vcs)
        if srv.repo:
            match["repo"] = _expand(match, srv.repo)
        if srv.check == "no_vcs_suffix":
            if any(match["repo"].endswith("." + vcs) for vcs in _SCHEMES):
                raise _Failure(f"invalid version control suffix in {match['prefix']} path")
        elif srv.check == "launchpad" and match["project"] and match["series"]:
            # Is "launchpad.net/project/series" a series with its own branch, or a directory
            # of the project's main branch?
            probe = "https://code.launchpad.net" + escape(
                _expand(match, "/{project}{series}/.bzr/branch-format"), "path"
            )
            got = yield from _get(DiscoveryGet(probe))
            if got.status != 200:
                match["root"] = _expand(match, "launchpad.net/{project}")
                match["repo"] = _expand(match, "https://{root}")
        vcs = match["vcs"]
        if not srv.repo:
            scheme = yield from _find_scheme(vcs, match["repo"], secure_only)
            return RepoRoot(root=match["root"], url=f"{scheme}://{match['repo']}", vcs=vcs)
        return RepoRoot(root=match["root"], url=match["repo"], vcs=vcs)
    raise _UnknownSite


def _find_scheme(vcs: str, repo: str, secure_only: bool) -> ResolveFlow[str]:
    """The first of the VCS's schemes at which ``repo`` answers (skipping insecure ones)."""
    for scheme in _SCHEMES[vcs]:
        if secure_only and scheme not in _SECURE_SCHEMES:
            continue
        if vcs not in _PINGABLE:
            return scheme
        answer = yield ProbeRepo(vcs, f"{scheme}://{repo}")
        if not isinstance(answer, bool):
            raise LocalProtocolError(f"ProbeRepo answered with {type(answer).__name__}")
        if answer:
            return scheme
    secure = "secure " if secure_only else ""
    raise _Failure(f"no {secure}protocol found for repository")


# --------------------------------------------------------------------------------------------
# go-get discovery (vcs.go repoRootForImportDynamic, metaImportsForPrefix)


def _get(query: DiscoveryGet) -> ResolveFlow[DiscoveryResult]:
    answer = yield query
    if not isinstance(answer, DiscoveryResult):
        raise LocalProtocolError(f"DiscoveryGet answered with {type(answer).__name__}")
    return answer


def _discovery_url(path: str, scheme: str) -> str:
    slash = path.find("/")
    host, rest = (path, "") if slash < 0 else (path[:slash], path[slash:])
    if "." not in host:
        raise _Failure("import path does not begin with hostname")
    return f"{scheme}://{escape(host, 'host')}{escape(rest or '/', 'path')}?go-get=1"


def discovery_url(path: str, insecure: bool) -> str:
    """The go-get discovery URL of ``path``: ``https://<path>?go-get=1`` (``http://`` if insecure).

    Raises:
        RepoResolveError: the first path element has no dot, so it is no host name.
    """
    try:
        return _discovery_url(path, "http" if insecure else "https")
    except _Failure as exc:
        raise RepoResolveError(
            f"unrecognized import path {go_quote(path)}: {exc.reason}", path
        ) from None


def _web_get(path: str, secure_only: bool) -> ResolveFlow[tuple[str, DiscoveryResult]]:
    """Fetch the discovery page of ``path`` as Go's ``web.Get`` does for a schemeless URL."""
    url = _discovery_url(path, "https")
    got = yield from _get(DiscoveryGet(url, insecure=not secure_only))
    if got.status == 0 and not secure_only:
        url = _discovery_url(path, "http")
        got = yield from _get(DiscoveryGet(url, insecure=True))
    return url, got


def _status_text(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _dynamic(path: str, secure_only: bool) -> ResolveFlow[RepoRoot]:
    """Find the repository of ``path`` from go-import tags (vcs.go repoRootForImportDynamic)."""
    url, got = yield from _web_get(path, secure_only)
    if got.status == 0:
        raise _Failure(("https fetch: " if secure_only else "http/https fetch: ") + got.error)
    imports, error = parse_meta_go_imports(got.body)
    if not imports and got.status != 200:
        # A non-200 page that carries the tags is fine; otherwise the status is the news.
        raise _Failure(f"reading {url}: {_status_text(got.status)}")
    if error:
        raise _Failure(f"parsing {path}: {error}")
    try:
        mmi = match_go_import(imports, path)
    except ImportMismatchError as exc:
        raise _Failure(f"parse {url}: no go-import meta tags ({exc})") from None
    except RepoResolveError as exc:
        raise _Failure(f"parse {url}: {exc}") from None
    if mmi.prefix != path:
        # The page of "uni.edu/bob/project" may not speak for "uni.edu": ask the prefix's
        # own page, and require it to say the same.
        url2, imports2 = yield from _meta_imports_for_prefix(mmi.prefix, secure_only)
        try:
            same = match_go_import(imports2, path) == mmi
        except RepoResolveError:
            same = False
        if not same:
            raise _Failure(f"{url} and {url2} disagree about go-import for {mmi.prefix}")
    if mmi.subdir.startswith("/"):
        raise _Failure(f"{url}: invalid subdirectory {go_quote(mmi.subdir)}: leading slash")
    if mmi.subdir.startswith("-"):
        raise _Failure(f"{url}: invalid subdirectory {go_quote(mmi.subdir)}: leading hyphen")
    bad_root = validate_repo_root(mmi.repo_root)
    if bad_root:
        raise _Failure(f"{url}: invalid repo root {go_quote(mmi.repo_root)}: {bad_root}")
    if mmi.vcs != "mod" and mmi.vcs not in _SCHEMES:
        raise _Failure(f"{url}: unknown vcs {go_quote(mmi.vcs)}")
    return RepoRoot(root=mmi.prefix, url=mmi.repo_root, vcs=mmi.vcs, subdir=mmi.subdir)


def _meta_imports_for_prefix(
    prefix: str, secure_only: bool
) -> ResolveFlow[tuple[str, tuple[MetaImport, ...]]]:
    """The go-import tags on the discovery page of ``prefix`` (vcs.go metaImportsForPrefix)."""
    url, got = yield from _web_get(prefix, secure_only)
    if got.status == 0:
        raise _Failure(f"fetching {prefix}: {got.error}")
    imports, error = parse_meta_go_imports(got.body)
    if not imports and got.status != 200:
        raise _Failure(f"reading {url}: {_status_text(got.status)}")
    if error:
        raise _Failure(f"parsing {url}: {error}")
    if not imports:
        raise _Failure(f"fetching {prefix}: no go-import meta tag found in {url}")
    return url, imports


def match_go_import(imports: tuple[MetaImport, ...], path: str) -> MetaImport:
    """The tag whose prefix is a path prefix of ``path`` (vcs.go matchGoImport).

    ``imports`` is in :func:`parse_meta_go_imports` order (``mod`` tags first): a ``mod``
    tag wins over later VCS tags; two matching tags of the same kind are an error.

    Raises:
        ImportMismatchError: no tag matches.
        RepoResolveError: several tags match.
    """
    match: MetaImport | None = None
    mismatches: list[str] = []
    for im in imports:
        if not _has_path_prefix(path, im.prefix):
            mismatches.append(im.prefix)
            continue
        if match is not None:
            if match.vcs == "mod" and im.vcs != "mod":
                # Every mod tag precedes every other tag: the rest do not matter.
                break
            raise RepoResolveError(f"multiple meta tags match import path {go_quote(path)}", path)
        match = im
    if match is None:
        raise ImportMismatchError(path, tuple(mismatches))
    return match


def resolve_repo(path: str, insecure: PrefixPatterns) -> ResolveFlow[RepoRoot]:
    """Find the repository of module path ``path`` (vcs.go RepoRootForImportPath, module mode).

    Args:
        path: a module path (already checked to be valid).
        insecure: GOINSECURE-style patterns; a matching path may be fetched over plain HTTP
            (and without TLS certificate checks), and its repository probed with insecure
            schemes.

    Yields:
        :class:`DiscoveryGet` (send a :class:`DiscoveryResult`) and :class:`ProbeRepo`
        (send a bool).

    Returns:
        The repository root. Its ``vcs`` may be any VCS Go knows, or ``"mod"``; see
        :func:`require_git`.

    Raises:
        RepoResolveError: no repository can be found; the message is the go command's.
        LocalProtocolError: an answer of the wrong type was sent.
    """
    secure_only = not insecure.matches(path)
    root: RepoRoot | None = None
    error = ""
    try:
        root = yield from _from_vcs_paths(path, secure_only, _VCS_PATHS)
    except _UnknownSite:
        try:
            root = yield from _dynamic(path, secure_only)
        except _Failure as exc:
            error = f"unrecognized import path {go_quote(path)}: {exc.reason}"
    except _Failure as exc:
        error = exc.reason if exc.names_path else f"{path}: {exc.reason}"
    if root is None:
        try:
            root = yield from _from_vcs_paths(path, secure_only, _VCS_PATHS_AFTER_DYNAMIC)
        except (_UnknownSite, _Failure):
            raise RepoResolveError(error, path) from None
    if "..." in path and "..." in root.root:
        raise RepoResolveError(f"cannot expand ... in {go_quote(path)}", path)
    return root


# --------------------------------------------------------------------------------------------
# The repo-root URL check (vcs.go validateRepoRoot, on Go's net/url.Parse rules: neturl.py)


def validate_repo_root(root: str) -> str:
    """Why ``root`` is no acceptable repository URL ("" if it is) (vcs.go validateRepoRoot)."""
    raw = root.encode("utf-8", "surrogateescape")
    head, sep, frag = raw.partition(b"#")
    try:
        scheme = parse_url(head)
    except URLError as exc:
        return f"parse {go_quote(head.decode('utf-8', 'surrogateescape'))}: {exc}"
    if sep and frag:
        try:
            unescape(frag, "fragment")
        except URLError as exc:
            return f"parse {go_quote(root)}: {exc}"
    if not scheme:
        return "no scheme"
    if scheme == "file":
        return "file scheme disallowed"
    return ""
