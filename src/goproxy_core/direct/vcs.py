"""From a module path to its source repository, as the go command finds it in module mode.

This is golang/go ``src/cmd/go/internal/vcs/vcs.go`` (``RepoRootForImportPath`` with
``PreferMod``, as ``modfetch.lookupDirect`` calls it) and ``discovery.go``
(``parseMetaGoImports``), in three steps:

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
a :class:`RepoRoot`. Every failure raises :class:`RepoResolveError` (404: "not here").

Left out: GOVCS (this proxy's policy is :func:`require_git`), GIT_ALLOW_PROTOCOL (the core
reads no environment), and the special cases Go keeps for its own test suite (``example.net``,
``rsc.io``, the vcs-test server).
"""

from __future__ import annotations

import bisect
import http
import ipaddress
import re
from collections.abc import Generator
from typing import TYPE_CHECKING, NamedTuple, TypeAlias, TypeVar

import msgspec

from ..errors import LocalProtocolError, ProxyError, go_quote

if TYPE_CHECKING:
    from ..module.paths import PrefixPatterns

__all__ = [
    "DiscoveryGet",
    "DiscoveryResult",
    "ImportMismatchError",
    "MetaImport",
    "ProbeRepo",
    "RepoResolveError",
    "RepoRoot",
    "ResolveFlow",
    "ResolveQuery",
    "UnsupportedVCSError",
    "discovery_url",
    "match_go_import",
    "parse_meta_go_imports",
    "require_git",
    "resolve_repo",
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


class MetaImport(msgspec.Struct, frozen=True):
    """One ``<meta name="go-import" content="prefix vcs repo-root [subdir]">`` tag."""

    prefix: str
    vcs: str
    repo_root: str
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


def _match_general(path: str) -> dict[str, str] | None:
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
        groups = _match_general(path) if srv.regexp is None else _search(srv.regexp, path)
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
            probe = "https://code.launchpad.net" + _escape(
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
    return f"{scheme}://{_escape(host, 'host')}{_escape(rest or '/', 'path')}?go-get=1"


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
    bad_root = _validate_repo_root(mmi.repo_root)
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
# The repo-root URL check (vcs.go validateRepoRoot, on Go's net/url.Parse rules)

_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_HOST_OK = frozenset(b"!$&'()*+,;=:[]<>\"")
_UNRESERVED = frozenset(b"-_.~")
_RESERVED = frozenset(b"$&+,/:;=?@")


def _should_escape(c: int, mode: str) -> bool:
    """Go's net/url shouldEscape for the modes used here: ``path``, ``host``, ``zone``."""
    if 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A or 0x30 <= c <= 0x39:
        return False
    if mode != "path" and c in _HOST_OK:
        return False
    if c in _UNRESERVED:
        return False
    if c in _RESERVED and mode == "path":
        return c == 0x3F  # '?'
    return True


def _escape(s: str, mode: str) -> str:
    """Percent-encode ``s`` as Go's url.URL.String does for a host or a path."""
    out: list[str] = []
    for c in s.encode("utf-8", "surrogateescape"):
        out.append(f"%{c:02X}" if _should_escape(c, mode) else chr(c))
    return "".join(out)


class _URLError(Exception):
    pass


def _bytes_text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _unescape(s: bytes, mode: str) -> bytes:
    """Go's net/url unescape; raises :class:`_URLError` with Go's text."""
    out = bytearray()
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == 0x25:  # '%'
            if i + 2 >= n or s[i + 1] not in _HEX_DIGITS or s[i + 2] not in _HEX_DIGITS:
                raise _URLError(f"invalid URL escape {go_quote(_bytes_text(s[i : i + 3]))}")
            seq = s[i : i + 3]
            v = int(seq[1:], 16)
            if mode == "host" and v >> 4 < 8 and seq != b"%25":
                raise _URLError(f"invalid URL escape {go_quote(_bytes_text(seq))}")
            if mode == "zone" and seq != b"%25" and v != 0x20 and _should_escape(v, "host"):
                raise _URLError(f"invalid URL escape {go_quote(_bytes_text(seq))}")
            out.append(v)
            i += 3
            continue
        if mode in ("host", "zone") and c < 0x80 and _should_escape(c, mode):
            raise _URLError(f"invalid character {go_quote(chr(c))} in host name")
        out.append(c)
        i += 1
    return bytes(out)


def _valid_optional_port(port: bytes) -> bool:
    return not port or (port[:1] == b":" and all(0x30 <= b <= 0x39 for b in port[1:]))


def _parse_host(scheme: str, host: bytes) -> None:
    bracket = host.rfind(b"[")
    if bracket > 0:
        raise _URLError("invalid IP-literal")
    if bracket == 0:
        close = host.rfind(b"]")
        if close < 0:
            raise _URLError("missing ']' in host")
        colon_port = host[close + 1 :]
        if not _valid_optional_port(colon_port):
            raise _URLError(f"invalid port {go_quote(_bytes_text(colon_port))} after host")
        name = host[1:close]
        zone = name.find(b"%25")
        if zone >= 0:
            literal = _unescape(name[:zone], "host") + _unescape(name[zone:], "zone")
        else:
            literal = _unescape(name, "host")
        text = _bytes_text(literal)
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            raise _URLError(
                f"invalid host: ParseAddr({go_quote(text)}): unable to parse IP"
            ) from None
        if addr.version == 4:
            raise _URLError("invalid IP-literal")
        return
    first = host.find(b":")
    if first >= 0:
        # Since Go 1.26 an http(s) host may not hold more than one colon.
        colon = first if scheme in ("http", "https") else host.rfind(b":")
        if not _valid_optional_port(host[colon:]):
            raise _URLError(f"invalid port {go_quote(_bytes_text(host[colon:]))} after host")
    _unescape(host, "host")


_USERINFO_OK = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._:~!$&'()*+,;=%@"
)


def _parse_url(raw: bytes) -> str:
    """Go's url.Parse without the fragment; returns the (lower-cased) scheme."""
    if any(b < 0x20 or b == 0x7F for b in raw):
        raise _URLError("net/url: invalid control character in URL")
    if raw == b"*":
        return ""
    scheme, rest = b"", raw
    for i, c in enumerate(raw):
        if 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A:
            continue
        if (0x30 <= c <= 0x39 or c in b"+-.") and i > 0:
            continue
        if c == 0x3A:  # ':'
            if i == 0:
                raise _URLError("missing protocol scheme")
            scheme, rest = raw[:i], raw[i + 1 :]
        break
    lower = _bytes_text(scheme).lower()
    query = rest.endswith(b"?") and rest.count(b"?") == 1
    rest = rest[:-1] if query else rest.partition(b"?")[0]
    if not rest.startswith(b"/"):
        if lower:
            return lower  # an opaque URL, scheme:rest
        if b":" in rest.partition(b"/")[0]:
            raise _URLError("first path segment in URL cannot contain colon")
    if (lower or not rest.startswith(b"///")) and rest.startswith(b"//"):
        authority, slash, tail = rest[2:].partition(b"/")
        rest = slash + tail
        at = authority.rfind(b"@")
        _parse_host(lower, authority[at + 1 :])
        if at >= 0:
            userinfo = authority[:at]
            if not all(b in _USERINFO_OK for b in userinfo):
                raise _URLError("net/url: invalid userinfo")
            for part in userinfo.split(b":", 1):
                _unescape(part, "userinfo")
    _unescape(rest, "path")
    return lower


def _validate_repo_root(root: str) -> str:
    """Why ``root`` is no acceptable repository URL ("" if it is) (vcs.go validateRepoRoot)."""
    raw = root.encode("utf-8", "surrogateescape")
    head, sep, frag = raw.partition(b"#")
    try:
        scheme = _parse_url(head)
    except _URLError as exc:
        return f"parse {go_quote(_bytes_text(head))}: {exc}"
    if sep and frag:
        try:
            _unescape(frag, "fragment")
        except _URLError as exc:
            return f"parse {go_quote(root)}: {exc}"
    if not scheme:
        return "no scheme"
    if scheme == "file":
        return "file scheme disallowed"
    return ""


# --------------------------------------------------------------------------------------------
# go-import tags (discovery.go parseMetaGoImports, on Go's encoding/xml RawToken, Strict=false)


class _XMLError(Exception):
    pass


class _EOF(Exception):
    pass


# Go's Unicode whitespace (unicode.IsSpace), which strings.Fields splits on.
_GO_FIELDS = re.compile("[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
# Characters outside XML's Char production.
_ILLEGAL_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACE_RUN = re.compile(rb"[ \r\n\t]*")
_NAME_RUN = re.compile(rb"[A-Za-z0-9_:.\-\x80-\xff]+")
_UNQUOTED_RUN = re.compile(rb"[A-Za-z0-9_:\-]*")
_TEXT_RUNS = {
    -1: re.compile(rb"[^<&\r>]+"),
    0x22: re.compile(rb'[^<&\r>"]+'),
    0x27: re.compile(rb"[^<&\r>']+"),
}
_ENTITIES = {b"lt": "<", b"gt": ">", b"amp": "&", b"apos": "'", b"quot": '"'}
_ASCII_NAME_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_:")
_ASCII_NAME_NEXT = _ASCII_NAME_FIRST | frozenset("0123456789.-")
# Beyond ASCII, Go's encoding/xml takes its name characters from XML 1.0 Appendix B (Unicode
# 2.0, Basic Multilingual Plane only): Letter (BaseChar | Ideographic) may start a name, and
# CombiningChar, Digit and Extender may follow. The same classes, as hexadecimal code point
# ranges (non-ASCII part only):
_LETTER_RANGES = (
    "C0-D6 D8-F6 F8-131 134-13E 141-148 14A-17E 180-1C3 1CD-1F0 1F4-1F5 1FA-217 250-2A8 "
    "2BB-2C1 386 388-38A 38C 38E-3A1 3A3-3CE 3D0-3D6 3DA 3DC 3DE 3E0 3E2-3F3 401-40C 40E-44F "
    "451-45C 45E-481 490-4C4 4C7-4C8 4CB-4CC 4D0-4EB 4EE-4F5 4F8-4F9 531-556 559 561-586 "
    "5D0-5EA 5F0-5F2 621-63A 641-64A 671-6B7 6BA-6BE 6C0-6CE 6D0-6D3 6D5 6E5-6E6 905-939 93D "
    "958-961 985-98C 98F-990 993-9A8 9AA-9B0 9B2 9B6-9B9 9DC-9DD 9DF-9E1 9F0-9F1 A05-A0A "
    "A0F-A10 A13-A28 A2A-A30 A32-A33 A35-A36 A38-A39 A59-A5C A5E A72-A74 A85-A8B A8D A8F-A91 "
    "A93-AA8 AAA-AB0 AB2-AB3 AB5-AB9 ABD AE0 B05-B0C B0F-B10 B13-B28 B2A-B30 B32-B33 B36-B39 "
    "B3D B5C-B5D B5F-B61 B85-B8A B8E-B90 B92-B95 B99-B9A B9C B9E-B9F BA3-BA4 BA8-BAA BAE-BB5 "
    "BB7-BB9 C05-C0C C0E-C10 C12-C28 C2A-C33 C35-C39 C60-C61 C85-C8C C8E-C90 C92-CA8 CAA-CB3 "
    "CB5-CB9 CDE CE0-CE1 D05-D0C D0E-D10 D12-D28 D2A-D39 D60-D61 E01-E2E E30 E32-E33 E40-E45 "
    "E81-E82 E84 E87-E88 E8A E8D E94-E97 E99-E9F EA1-EA3 EA5 EA7 EAA-EAB EAD-EAE EB0 EB2-EB3 "
    "EBD EC0-EC4 F40-F47 F49-F69 10A0-10C5 10D0-10F6 1100 1102-1103 1105-1107 1109 110B-110C "
    "110E-1112 113C 113E 1140 114C 114E 1150 1154-1155 1159 115F-1161 1163 1165 1167 1169 "
    "116D-116E 1172-1173 1175 119E 11A8 11AB 11AE-11AF 11B7-11B8 11BA 11BC-11C2 11EB 11F0 "
    "11F9 1E00-1E9B 1EA0-1EF9 1F00-1F15 1F18-1F1D 1F20-1F45 1F48-1F4D 1F50-1F57 1F59 1F5B "
    "1F5D 1F5F-1F7D 1F80-1FB4 1FB6-1FBC 1FBE 1FC2-1FC4 1FC6-1FCC 1FD0-1FD3 1FD6-1FDB "
    "1FE0-1FEC 1FF2-1FF4 1FF6-1FFC 2126 212A-212B 212E 2180-2182 3007 3021-3029 3041-3094 "
    "30A1-30FA 3105-312C 4E00-9FA5 AC00-D7A3 "
)
_NAME_EXTRA_RANGES = (
    "B7 2D0-2D1 300-345 360-361 387 483-486 591-5A1 5A3-5B9 5BB-5BD 5BF 5C1-5C2 5C4 640 "
    "64B-652 660-669 670 6D6-6E4 6E7-6E8 6EA-6ED 6F0-6F9 901-903 93C 93E-94D 951-954 962-963 "
    "966-96F 981-983 9BC 9BE-9C4 9C7-9C8 9CB-9CD 9D7 9E2-9E3 9E6-9EF A02 A3C A3E-A42 A47-A48 "
    "A4B-A4D A66-A71 A81-A83 ABC ABE-AC5 AC7-AC9 ACB-ACD AE6-AEF B01-B03 B3C B3E-B43 B47-B48 "
    "B4B-B4D B56-B57 B66-B6F B82-B83 BBE-BC2 BC6-BC8 BCA-BCD BD7 BE7-BEF C01-C03 C3E-C44 "
    "C46-C48 C4A-C4D C55-C56 C66-C6F C82-C83 CBE-CC4 CC6-CC8 CCA-CCD CD5-CD6 CE6-CEF D02-D03 "
    "D3E-D43 D46-D48 D4A-D4D D57 D66-D6F E31 E34-E3A E46-E4E E50-E59 EB1 EB4-EB9 EBB-EBC EC6 "
    "EC8-ECD ED0-ED9 F18-F19 F20-F29 F35 F37 F39 F3E-F3F F71-F84 F86-F8B F90-F95 F97 F99-FAD "
    "FB1-FB7 FB9 20D0-20DC 20E1 3005 302A-302F 3031-3035 3099-309A 309D-309E 30FC-30FE "
)


def _parse_ranges(spec: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    starts: list[int] = []
    ends: list[int] = []
    for item in spec.split():
        lo, _, hi = item.partition("-")
        starts.append(int(lo, 16))
        ends.append(int(hi or lo, 16))
    return tuple(starts), tuple(ends)


_LETTERS = _parse_ranges(_LETTER_RANGES)
_NAME_EXTRAS = _parse_ranges(_NAME_EXTRA_RANGES)


def _in_ranges(ranges: tuple[tuple[int, ...], tuple[int, ...]], cp: int) -> bool:
    i = bisect.bisect_right(ranges[0], cp) - 1
    return i >= 0 and cp <= ranges[1][i]


def _is_name_char(ch: str, first: bool) -> bool:
    """Whether ``ch`` may start (or continue) an XML name, by Go's encoding/xml tables."""
    if ch < "\x80":
        return ch in (_ASCII_NAME_FIRST if first else _ASCII_NAME_NEXT)
    cp = ord(ch)
    return _in_ranges(_LETTERS, cp) or (not first and _in_ranges(_NAME_EXTRAS, cp))


def _is_name(raw: bytes) -> bool:
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(s) and _is_name_char(s[0], True) and all(_is_name_char(c, False) for c in s[1:])


def _proc_inst(param: bytes, s: bytes) -> bytes:
    """The value of ``param="..."`` in a processing instruction (Go's encoding/xml procInst)."""
    param += b"="
    i = 0
    sep = 0
    while i < len(s):
        sub = s[i:]
        k = sub.find(param)
        if k < 0 or len(param) + k >= len(sub):
            return b""
        i += len(param) + k + 1
        c = sub[len(param) + k]
        if c in b"'\"":
            sep = c
            break
    if not sep:
        return b""
    j = s.find(bytes([sep]), i)
    return b"" if j < 0 else s[i:j]


_Token: TypeAlias = tuple[str, str, list[tuple[str, str]]]


class _Decoder:
    """The part of Go's non-strict ``xml.Decoder.RawToken`` that discovery depends on.

    Tokens are ``("start", local name, [(attr local name, value)])``, ``("end", local name,
    [])`` or ``("other", "", [])``. Errors carry Go's text, line number included.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._line = 1
        self._close: str | None = None

    # byte access, as Go's getc / mustgetc / ungetc

    def _getc(self) -> int:
        if self._pos >= len(self._data):
            return -1
        b = self._data[self._pos]
        self._pos += 1
        if b == 0x0A:
            self._line += 1
        return b

    def _mustgetc(self) -> int:
        b = self._getc()
        if b < 0:
            raise self._syntax("unexpected EOF")
        return b

    def _ungetc(self, b: int) -> None:
        self._pos -= 1
        if b == 0x0A:
            self._line -= 1

    def _skip_to(self, end: int) -> None:
        self._line += self._data.count(b"\n", self._pos, end)
        self._pos = end

    def _syntax(self, msg: str) -> _XMLError:
        return _XMLError(f"XML syntax error on line {self._line}: {msg}")

    def _space(self) -> None:
        m = _SPACE_RUN.match(self._data, self._pos)
        assert m is not None  # the pattern matches the empty string
        self._skip_to(m.end())

    def _read_name(self, buf: bytearray) -> bool:
        m = _NAME_RUN.match(self._data, self._pos)
        if m is not None:
            buf += m.group()
            self._pos = m.end()
        if self._pos >= len(self._data):
            raise self._syntax("unexpected EOF")
        return m is not None

    def _name(self) -> str | None:
        buf = bytearray()
        if not self._read_name(buf):
            return None
        raw = bytes(buf)
        if not _is_name(raw):
            raise self._syntax("invalid XML name: " + raw.decode("utf-8", "replace"))
        return raw.decode("utf-8")

    def _nsname(self) -> str | None:
        """The local part of a name, or None for no name (or one with two colons)."""
        s = self._name()
        if s is None or s.count(":") > 1:
            return None
        space, colon, local = s.partition(":")
        return local if colon and space and local else s

    def _checked(self, data: bytes) -> str:
        try:
            text = data.decode("utf-8")
            bad = False
        except UnicodeDecodeError as exc:
            text = data[: exc.start].decode("utf-8")
            bad = True
        m = _ILLEGAL_CHAR.search(text)
        if m is not None:
            raise self._syntax(f"illegal character code U+{ord(m.group()):04X}")
        if bad:
            raise self._syntax("invalid UTF-8")
        return text

    def _entity(self, buf: bytearray) -> bool:
        """Decode the entity after ``&`` in place; False (text kept) if it is none."""
        before = len(buf)
        buf.append(0x26)
        b = self._mustgetc()
        text = None
        if b == 0x23:  # '#'
            buf.append(b)
            b = self._mustgetc()
            base = 10
            if b == 0x78:  # 'x'
                base = 16
                buf.append(b)
                b = self._mustgetc()
            start = len(buf)
            while 0x30 <= b <= 0x39 or (base == 16 and (0x61 <= b <= 0x66 or 0x41 <= b <= 0x46)):
                buf.append(b)
                b = self._mustgetc()
            if b != 0x3B:
                self._ungetc(b)
            else:
                digits = bytes(buf[start:])
                buf.append(b)
                if digits:
                    n = int(digits, base)
                    if n <= 0x10FFFF:
                        text = "\ufffd" if 0xD800 <= n <= 0xDFFF else chr(n)
        else:
            self._ungetc(b)
            self._read_name(buf)
            b = self._mustgetc()
            if b != 0x3B:
                self._ungetc(b)
            else:
                name = bytes(buf[before + 1 :])
                buf.append(b)
                # (A name can be one only if it is in this table: no need for _is_name.)
                text = _ENTITIES.get(name)
        if text is None:
            return False  # not strict: keep the text as written
        del buf[before:]
        buf += text.encode("utf-8")
        return True

    def _text(self, quote: int, cdata: bool) -> str:
        """Character data up to ``<`` (or the closing quote, or ``]]>``), decoded."""
        data = self._data
        run = _TEXT_RUNS[quote]
        buf = bytearray()
        b0 = b1 = 0
        while True:
            if b1 != 0x0D:
                m = run.match(data, self._pos)
                if m is not None:
                    chunk = m.group()
                    buf += chunk
                    self._skip_to(m.end())
                    b0, b1 = (chunk[-2], chunk[-1]) if len(chunk) > 1 else (b1, chunk[0])
            b = self._getc()
            if b < 0:
                if cdata:
                    raise self._syntax("unexpected EOF in CDATA section")
                break
            if quote < 0 and b0 == b1 == 0x5D and b == 0x3E:  # "]]>"
                if cdata:
                    del buf[-2:]
                    break
                raise self._syntax("unescaped ]]> not in CDATA section")
            if b == 0x3C and not cdata:
                if quote >= 0:
                    raise self._syntax("unescaped < inside quoted string")
                self._ungetc(b)
                break
            if b == quote:
                break
            if b == 0x26 and not cdata:
                self._entity(buf)
                b0 = b1 = 0
                continue
            if b == 0x0D:
                buf.append(0x0A)
            elif b1 != 0x0D or b != 0x0A:
                buf.append(b)
            b0, b1 = b1, b
        return self._checked(bytes(buf))

    def _attr_value(self) -> str:
        b = self._mustgetc()
        if b in (0x22, 0x27):
            return self._text(b, False)
        # Not strict: an unquoted value is a run of [A-Za-z0-9_:-].
        self._ungetc(b)
        m = _UNQUOTED_RUN.match(self._data, self._pos)
        assert m is not None  # the pattern matches the empty string
        self._pos = m.end()
        if self._pos >= len(self._data):
            raise self._syntax("unexpected EOF")
        return m.group().decode("ascii")

    def token(self) -> _Token:
        """The next token; raises :class:`_EOF` at the end, :class:`_XMLError` on an error."""
        if self._close is not None:
            # The second half of a self-closing <name/>.
            closed, self._close = self._close, None
            return ("end", closed, [])
        b = self._getc()
        if b < 0:
            raise _EOF
        if b != 0x3C:
            self._ungetc(b)
            self._text(-1, False)
            return ("other", "", [])
        b = self._mustgetc()
        if b == 0x2F:  # "</"
            name = self._nsname()
            if name is None:
                raise self._syntax("expected element name after </")
            self._space()
            if self._mustgetc() != 0x3E:
                raise self._syntax(f"invalid characters between </{name} and >")
            return ("end", name, [])
        if b == 0x3F:  # "<?"
            self._processing_instruction()
            return ("other", "", [])
        if b == 0x21:  # "<!"
            self._markup_declaration()
            return ("other", "", [])
        self._ungetc(b)
        name = self._nsname()
        if name is None:
            raise self._syntax("expected element name after <")
        attrs: list[tuple[str, str]] = []
        while True:
            self._space()
            b = self._mustgetc()
            if b == 0x2F:
                if self._mustgetc() != 0x3E:
                    raise self._syntax("expected /> in element")
                self._close = name
                break
            if b == 0x3E:
                break
            self._ungetc(b)
            attr = self._nsname()
            if attr is None:
                raise self._syntax("expected attribute name in element")
            self._space()
            b = self._mustgetc()
            if b != 0x3D:  # not strict: a lone name is its own value
                self._ungetc(b)
                attrs.append((attr, attr))
                continue
            self._space()
            attrs.append((attr, self._attr_value()))
        return ("start", name, attrs)

    def _processing_instruction(self) -> None:
        target = self._name()
        if target is None:
            raise self._syntax("expected target name after <?")
        self._space()
        end = self._data.find(b"?>", self._pos)
        if end < 0:
            self._skip_to(len(self._data))
            raise self._syntax("unexpected EOF")
        content = self._data[self._pos : end]
        self._skip_to(end + 2)
        if target != "xml":
            return
        version = _proc_inst(b"version", content)
        if version not in (b"", b"1.0"):
            raise _XMLError(
                f"xml: unsupported version {go_quote(_bytes_text(version))}; "
                "only version 1.0 is supported"
            )
        enc = _bytes_text(_proc_inst(b"encoding", content))
        # Discovery reads UTF-8 (and ASCII, taken as UTF-8) only.
        if enc and enc.lower() not in ("utf-8", "ascii"):
            raise _XMLError(
                f"xml: opening charset {go_quote(enc)}: "
                f"can't decode XML document using charset {go_quote(enc)}"
            )

    def _markup_declaration(self) -> None:
        b = self._mustgetc()
        if b == 0x2D:  # "<!-"
            if self._mustgetc() != 0x2D:
                raise self._syntax("invalid sequence <!- not part of <!--")
            dashes = self._data.find(b"--", self._pos)
            if dashes < 0 or dashes + 2 >= len(self._data):
                self._skip_to(len(self._data))
                raise self._syntax("unexpected EOF")
            self._skip_to(dashes + 3)
            if self._data[dashes + 2] != 0x3E:
                raise self._syntax('invalid sequence "--" not allowed in comments')
            return
        if b == 0x5B:  # "<!["
            for want in b"CDATA[":
                if self._mustgetc() != want:
                    raise self._syntax("invalid <![ sequence")
            self._text(-1, True)
            return
        # A directive (<!DOCTYPE ...>): skip to the matching '>'; quoted '>' and '>' inside
        # comments do not count, nested '<' ... '>' pairs do.
        inquote = 0
        depth = 0
        while True:
            b = self._mustgetc()
            if inquote == 0 and b == 0x3E and depth == 0:
                return
            while True:
                if b == inquote:
                    inquote = 0
                elif inquote:
                    pass
                elif b in (0x22, 0x27):
                    inquote = b
                elif b == 0x3E:
                    depth -= 1
                elif b == 0x3C:
                    b = self._comment_in_directive()
                    if b >= 0:
                        depth += 1
                        continue  # examine the byte that broke "<!--"
                break

    def _comment_in_directive(self) -> int:
        """After ``<`` in a directive: skip a ``<!-- -->`` comment and return -1, or return
        the first byte that does not continue ``<!--``."""
        for want in b"!--":
            b = self._mustgetc()
            if b != want:
                return b
        end = self._data.find(b"-->", self._pos)
        if end < 0:
            self._skip_to(len(self._data))
            raise self._syntax("unexpected EOF")
        self._skip_to(end + 3)
        return -1


def parse_meta_go_imports(
    body: bytes, *, prefer_mod: bool = True
) -> tuple[tuple[MetaImport, ...], str]:
    """The go-import tags of an HTML page, as the go command reads them.

    Reading stops at ``</head>`` or ``<body>`` and at the first error; it is tolerant HTML
    rather than XML (unquoted attributes, attributes without values, unknown entities), but
    other markup errors end it. Tags whose content has other than 3 or 4 fields are ignored.

    Args:
        body: the page.
        prefer_mod: module mode (the proxy's): ``mod`` tags come first and hide the VCS tags
            with the same prefix; otherwise ``mod`` tags are dropped.

    Returns:
        The tags, and an error text: non-empty only when reading failed before any tag was
        found (otherwise the tags found so far count).
    """
    decoder = _Decoder(body)
    imports: list[MetaImport] = []
    while True:
        try:
            kind, name, attrs = decoder.token()
        except _EOF:
            break
        except _XMLError as exc:
            if not imports:
                return (), str(exc)
            break
        lower = name.lower()
        if (kind == "start" and lower == "body") or (kind == "end" and lower == "head"):
            break
        if kind != "start" or lower != "meta" or _attr(attrs, "name") != "go-import":
            continue
        fields = [f for f in _GO_FIELDS.split(_attr(attrs, "content")) if f]
        if len(fields) in (3, 4):
            imports.append(MetaImport(*fields))
    mods = [m for m in imports if m.vcs == "mod"] if prefer_mod else []
    have = {m.prefix for m in mods}
    return (*mods, *(m for m in imports if m.vcs != "mod" and m.prefix not in have)), ""


def _attr(attrs: list[tuple[str, str]], name: str) -> str:
    for key, value in attrs:
        if key.lower() == name:
            return value
    return ""
