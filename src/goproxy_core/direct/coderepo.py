"""Direct mode: proxy answers derived from a version control repository, as the go command does.

Given a module path and the repository that holds it, this module decides what the go command
would answer with ``GOPROXY=direct``: which tags are versions (``@v/list``), what a tag, branch,
commit hash or version resolves to (``.info``, ``@latest``), which go.mod belongs to a version
(``.mod``) and which tree to archive for it (``.zip``). The repository is never touched here:
every operation is a flow (see :mod:`.codehost`) that yields repository queries and receives
their answers, so the same decisions serve every frontend.

The rules, and the texts of the errors, are golang/go ``src/cmd/go/internal/modfetch/coderepo.go``
(``newCodeRepo``, ``Versions``, ``appendIncompatibleVersions``, ``Stat``, ``Latest``,
``convert``, ``validatePseudoVersion``, ``revToRev``, ``findDir``, ``isMajor``, ``GoMod``,
``retractedVersions``, ``Zip``), with the tag checksum of ``codehost/git.go`` (``Tags``) and
the ``.info`` cleaning of ``modfetch/cache.go`` (``writeDiskStat``):

* A module in a subdirectory ``sub`` of the repository is versioned by tags ``sub/vX.Y.Z``; a
  module path ending in ``/vN`` lives either in the ``vN/`` subdirectory (a ``vN/go.mod``
  claiming ``/vN``) or at the directory itself, never both.
* Only canonical tags that do not look like pseudo-versions are versions. Tags of major v2 and
  above are ``+incompatible`` versions of the root module of an unsuffixed path when their tree
  has no go.mod, unless the latest compatible version has a go.mod, or the latest tag of that
  major has one.
* Any other commit gets a pseudo-version on top of the highest allowed, non-retracted tag in
  its history. Retractions come from the go.mod of the highest release (else the highest
  version) in the list.
* A requested canonical version resolves to exactly itself or fails; a requested
  pseudo-version must name the commit, its time and a base tag in its history.

A query that cannot be answered for another reason than "no such revision" or "no such file"
is the caller's to report (see :mod:`.codehost`); a flow only raises :class:`CodeRepoError`
(and, for malformed answers, :class:`~goproxy_core.errors.LocalProtocolError`). A caller may
answer a :class:`~.codehost.GitReadFile` by throwing :class:`~.codehost.RepoFileError` into
the flow; the flow treats it as the go command treats a failed read at that point.
"""

from __future__ import annotations

import base64
import hashlib
import io
import posixpath
import zipfile
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO, Final, cast

import msgspec

from .. import semver as _semver
from ..errors import InvalidVersionError, LocalProtocolError, ProxyError, go_quote
from ..modfile.rule import legacy_go_mod, module_path
from ..module.paths import (
    canonical_version,
    check_path_major,
    match_path_major,
    path_major_prefix,
    split_path_version,
)
from ..module.pseudo import (
    format_pseudo_timestamp,
    is_pseudo_version,
    pseudo_version,
    pseudo_version_base,
    pseudo_version_rev,
    pseudo_version_time,
)
from ..proxy.versions import Retraction, retractions_from_gomod
from ..zip import (
    MAX_GO_MOD,
    MAX_LICENSE,
    MAX_ZIP_FILE,
    FileMode,
    SourceFile,
    ZipError,
    create_zip,
)
from ..zip.read import entry_name
from .codehost import (
    CodeFlow,
    CodeQuery,
    GitDescendsFrom,
    GitLatest,
    GitMergedTags,
    GitReadFile,
    GitStat,
    GitTags,
    Origin,
    RepoFileError,
    RevInfo,
    TagList,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "CodeRepo",
    "CodeRepoError",
    "RevResult",
    "ZipPlan",
    "tag_sum",
    "zip_from_archive",
]

_INCOMPATIBLE: Final = "+incompatible"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class CodeRepoError(ProxyError):
    """The repository has no such module version: unknown revision, invalid or mismatched
    version, go.mod missing or in the wrong place, a repository that cannot hold the module.

    The message is the go command's (``path@version: invalid version: …`` and friends).
    """


# --- results --------------------------------------------------------------------------------


class RevResult(msgspec.Struct, frozen=True):
    """What a revision resolves to (modfetch ``RevInfo``).

    Attributes:
        version: the module version (a tag's version, maybe ``+incompatible``, or a
            pseudo-version).
        time: the commit time, seconds since the epoch (UTC).
        origin: where the answer came from, with everything the go command records to check
            later that it still holds (``TagPrefix``/``TagSum`` for pseudo-versions whose
            computation depended on the tags).
    """

    version: str
    time: int
    origin: Origin | None = None

    def info_json(self) -> bytes:
        """The ``.info`` body as the go command writes it into its module cache in direct mode.

        ``{"Version":…,"Time":"2006-01-02T15:04:05Z","Origin":{…}}`` with Go's JSON string
        escaping; the origin is cleaned as ``writeDiskStat`` does: no ``TagPrefix``,
        ``TagSum`` or ``RepoSum``, and no ``Ref`` for a pseudo-version.
        """
        out = [
            '{"Version":',
            _go_json_string(self.version),
            ',"Time":',
            _go_json_string(_rfc3339(self.time)),
        ]
        o = self.origin
        if o is not None:
            ref = "" if is_pseudo_version(self.version) else o.ref
            fields = [
                ("VCS", o.vcs),
                ("URL", o.url),
                ("Subdir", o.subdir),
                ("Hash", o.hash),
                ("Ref", ref),
            ]
            out.append(',"Origin":{')
            out.append(",".join(f'"{k}":{_go_json_string(v)}' for k, v in fields if v))
            out.append("}")
        out.append("}")
        return "".join(out).encode("utf-8")


class ZipPlan(msgspec.Struct, frozen=True):
    """What to archive for a module version's zip.

    Attributes:
        rev: the full commit hash to archive.
        subdir: the module's directory in the repository (``""`` for the root), as ``findDir``
            found it; ``git archive`` may be limited to it.
        root_license: the repository root's ``LICENSE`` at ``rev`` when ``subdir`` is not the
            root (None when it has none, or ``subdir`` is the root); it goes into the zip only
            when the module directory has no ``LICENSE`` of its own.
    """

    rev: str
    subdir: str
    root_license: bytes | None = None


# --- Go's JSON and time formatting -------------------------------------------------------------

_JSON_SHORT: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _go_json_string(s: str) -> str:
    """``s`` as Go's ``encoding/json`` writes a string (HTML-safe: ``<``, ``>``, ``&`` escaped).

    Undecodable bytes, carried as surrogateescape code points, come out as ``\\ufffd``.
    """
    out = ['"']
    for ch in s:
        short = _JSON_SHORT.get(ch)
        if short is not None:
            out.append(short)
            continue
        cp = ord(ch)
        if cp < 0x20 or ch in "<>&" or cp in (0x2028, 0x2029):
            out.append(f"\\u{cp:04x}")
        elif 0xD800 <= cp <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utc(t: int) -> datetime:
    return _EPOCH + timedelta(seconds=t)


def _rfc3339(t: int) -> str:
    """A commit time as Go's JSON writes a UTC ``time.Time`` (RFC 3339, ``Z``)."""
    d = _utc(t)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z"


# --- tags -----------------------------------------------------------------------------------


def _is_origin_tag(tag: str) -> bool:
    """Whether a tag takes part in the tag checksum (codehost ``isOriginTag``)."""
    c = _semver.canonical(tag)
    return c != "" and tag.startswith(c) and not is_pseudo_version(tag)


def tag_sum(prefix: str, tags: TagList) -> str:
    """The go command's checksum of the tags with ``prefix`` (codehost/git.go ``Tags``).

    ``"t1:"`` and the base64 SHA-256 of one ``"<quoted name> <hash>\\n"`` line per tag, in name
    order, for the tags whose name (after the prefix's directory) is a semantic version that is
    not a pseudo-version.

    Args:
        prefix: the tag prefix asked for (``"sub/v2."``).
        tags: the answer to ``GitTags(prefix)``; tags without the prefix are ignored.
    """
    directory = prefix[: prefix.rfind("/") + 1]
    h = hashlib.sha256()
    for name, commit in sorted(
        (t for t in tags.tags if t[0].startswith(prefix)),
        key=lambda t: t[0].encode("utf-8", "surrogateescape"),
    ):
        if _is_origin_tag(name.removeprefix(directory)):
            h.update(f"{go_quote(name)} {commit}\n".encode("utf-8", "surrogateescape"))
    return "t1:" + base64.b64encode(h.digest()).decode("ascii")


# --- small Go helpers -------------------------------------------------------------------------


def _has_path_prefix(s: str, prefix: str) -> bool:
    """Whether path ``s`` begins with the elements of ``prefix`` (coderepo ``hasPathPrefix``)."""
    if len(s) == len(prefix):
        return s == prefix
    if len(s) > len(prefix):
        if prefix and prefix.endswith("/"):
            return s.startswith(prefix)
        return s[len(prefix)] == "/" and s.startswith(prefix)
    return False


def _join(*parts: str) -> str:
    """Go's ``path.Join``: the non-empty parts joined by ``/`` and cleaned; ``""`` if none."""
    joined = "/".join(p for p in parts if p)
    return posixpath.normpath(joined) if joined else ""


def _is_major(mpath: str, path_major: str) -> bool:
    """Whether a go.mod's module path fits the path's major suffix (coderepo ``isMajor``)."""
    if not mpath:
        return False
    _, mpath_major, ok = split_path_version(mpath)
    if not ok:
        return False
    if not path_major:
        return path_major_prefix(mpath_major) in ("", "v0", "v1")
    if not mpath_major:
        return False
    return path_major[1:] == mpath_major[1:]


class _Dir(msgspec.Struct, frozen=True):
    """Where ``findDir`` found the module: the resolved commit, directory and go.mod."""

    info: RevInfo
    rev: str
    dir: str
    gomod: bytes | None


# --- the repository -----------------------------------------------------------------------------

_Memo = dict[CodeQuery, object]


class CodeRepo:
    """One module in one repository (modfetch ``codeRepo``).

    Each method returns a fresh flow; within one flow, identical queries are asked once.

    Args:
        module_path: the module path (``git.example.test/team/repo/sub/v2``).
        code_root: the import path of the repository root (``git.example.test/team/repo``);
            the module path is it or below it.
        repo_url: the repository's URL, recorded in ``Origin.URL``.
        vcs: the version control system, recorded in ``Origin.VCS``.
        subdir: an extra subdirectory the module root is in (the ``subdir`` field of a
            ``go-import`` meta tag, go 1.25), joined to the one implied by the path.

    Raises:
        CodeRepoError: the repository cannot hold the module (``mismatched repo``), or the
            module path has an invalid major-version suffix.
    """

    def __init__(
        self, module_path: str, code_root: str, repo_url: str, vcs: str = "git", *, subdir: str = ""
    ) -> None:
        if not _has_path_prefix(module_path, code_root):
            raise CodeRepoError(f"mismatched repo: found {code_root} for {module_path}")
        path_prefix, path_major, ok = split_path_version(module_path)
        if not ok:
            raise CodeRepoError(f"invalid module path {go_quote(module_path)}")
        if code_root == module_path:
            path_prefix = module_path
        code_dir = ""
        if code_root != module_path:
            if not _has_path_prefix(path_prefix, code_root):
                raise CodeRepoError(
                    f"repository rooted at {code_root} cannot contain module {module_path}"
                )
            code_dir = path_prefix[len(code_root) :].strip("/")
        if subdir:
            code_dir = _join(code_dir, subdir)
        self.module_path: Final = module_path
        self.code_root: Final = code_root
        self.code_dir: Final = code_dir
        self.path_prefix: Final = path_prefix
        self.path_major: Final = path_major
        self.pseudo_major: Final = path_major_prefix(path_major)
        self.repo_url: Final = repo_url
        self.vcs: Final = vcs

    def __repr__(self) -> str:
        return f"CodeRepo({self.module_path!r}, {self.code_root!r}, {self.repo_url!r})"

    # --- public flows ---------------------------------------------------------------------

    def versions(self, prefix: str = "") -> CodeFlow[list[str]]:
        """The versions for ``@v/list``, in semver order, ``+incompatible`` ones last.

        Args:
            prefix: only versions starting with it (``"v1.2"``).
        """
        return self._versions({}, prefix)

    def stat(self, rev: str) -> CodeFlow[RevResult]:
        """Resolve a version, tag, branch or commit hash; ``"latest"`` means :meth:`latest`.

        Raises:
            CodeRepoError: unknown revision, or it cannot be a version of this module.
        """
        return self._stat({}, rev)

    def latest(self) -> CodeFlow[RevResult]:
        """The version of the default branch's head (modfetch ``Latest``).

        Raises:
            CodeRepoError: the repository has no commits, or the head is not this module.
        """
        return self._latest({})

    def go_mod(self, version: str) -> CodeFlow[bytes]:
        """The ``.mod`` of a canonical version: its go.mod, or the synthesized one.

        The version is checked first as ``go mod download`` does (:meth:`stat` must resolve it
        to exactly itself), then the go.mod is found as ``GoMod`` finds it.

        Raises:
            CodeRepoError: not canonical, not a version of this module, or no valid go.mod
                location.
        """
        return self._go_mod({}, version)

    def zip_plan(self, version: str) -> CodeFlow[ZipPlan]:
        """What to archive for the ``.zip`` of a canonical version (checked like :meth:`go_mod`).

        Raises:
            CodeRepoError: as for :meth:`go_mod`.
        """
        return self._zip_plan({}, version)

    # --- asking the repository ----------------------------------------------------------------

    def _ask(self, memo: _Memo, query: CodeQuery) -> CodeFlow[object]:
        if query in memo:
            return memo[query]
        answer = yield query
        memo[query] = answer
        return answer

    @staticmethod
    def _wrong_answer(query: CodeQuery, answer: object) -> LocalProtocolError:
        return LocalProtocolError(f"answer to {query!r} has type {type(answer).__name__}")

    def _git_stat(self, memo: _Memo, rev: str) -> CodeFlow[RevInfo | None]:
        query = GitStat(rev)
        answer = yield from self._ask(memo, query)
        if answer is not None and not isinstance(answer, RevInfo):
            raise self._wrong_answer(query, answer)
        return answer

    def _git_latest(self, memo: _Memo) -> CodeFlow[RevInfo | None]:
        query = GitLatest()
        answer = yield from self._ask(memo, query)
        if answer is not None and not isinstance(answer, RevInfo):
            raise self._wrong_answer(query, answer)
        return answer

    def _git_tags(self, memo: _Memo, prefix: str) -> CodeFlow[TagList]:
        query = GitTags(prefix)
        answer = yield from self._ask(memo, query)
        if not isinstance(answer, TagList):
            raise self._wrong_answer(query, answer)
        return TagList(tuple(sorted(t for t in answer.tags if t[0].startswith(prefix))))

    def _merged_tags(self, memo: _Memo, rev: str) -> CodeFlow[list[str]]:
        query = GitMergedTags(rev)
        answer = yield from self._ask(memo, query)
        if not isinstance(answer, tuple | list):
            raise self._wrong_answer(query, answer)
        return sorted(str(t) for t in answer)

    def _descends_from(self, memo: _Memo, rev: str, tag: str) -> CodeFlow[bool]:
        query = GitDescendsFrom(rev, tag)
        answer = yield from self._ask(memo, query)
        if not isinstance(answer, bool):
            raise self._wrong_answer(query, answer)
        return answer

    def _read(self, memo: _Memo, rev: str, path: str, max_size: int) -> CodeFlow[bytes | None]:
        """A file at a commit; None if absent. RepoFileError passes through."""
        query = GitReadFile(rev, path, max_size)
        answer = yield from self._ask(memo, query)
        if answer is not None and not isinstance(answer, bytes):
            raise self._wrong_answer(query, answer)
        return answer

    def _read_ok(self, memo: _Memo, rev: str, path: str, max_size: int) -> CodeFlow[bytes | None]:
        """A file at a commit; None if absent or unreadable (where Go ignores read errors)."""
        try:
            return (yield from self._read(memo, rev, path, max_size))
        except RepoFileError:
            return None

    # --- Versions -----------------------------------------------------------------------------

    def _versions(self, memo: _Memo, prefix: str) -> CodeFlow[list[str]]:
        if self.module_path.startswith("gopkg.in/") and self.module_path.endswith("-unstable"):
            # gopkg.in/macaroon-bakery.v2-unstable has no possible tags (the v2 ones are v2's).
            return []
        p = self.code_dir + "/" + prefix if self.code_dir else prefix
        tags = yield from self._git_tags(memo, p)
        listed: list[str] = []
        incompatible: list[str] = []
        commits: dict[str, str] = {}
        for name, commit in tags.tags:
            v = name[len(self.code_dir) + 1 :] if self.code_dir else name
            # Non-canonical tags resolve to pseudo-versions, and tags that look like
            # pseudo-versions would be confusing: neither is listed.
            if not v or v != _semver.canonical(v) or is_pseudo_version(v):
                continue
            commits[v] = commit
            try:
                check_path_major(v, self.path_major)
            except InvalidVersionError:
                if not self.code_dir and not self.path_major and _semver.major(v) > "v1":
                    incompatible.append(v)
                continue
            listed.append(v)
        return (
            yield from self._append_incompatible(
                memo, _semver.sort_versions(listed), _semver.sort_versions(incompatible), commits
            )
        )

    def _append_incompatible(
        self, memo: _Memo, listed: list[str], incompatible: list[str], commits: dict[str, str]
    ) -> CodeFlow[list[str]]:
        """Add ``+incompatible`` versions as appropriate (``appendIncompatibleVersions``).

        Args:
            listed: the compatible versions, sorted.
            incompatible: candidate versions (without the suffix), sorted.
            commits: the commit of each version's tag.
        """
        if not incompatible or self.path_major:
            return listed

        def has_go_mod(v: str) -> CodeFlow[bool]:
            return (yield from self._read(memo, commits[v], "go.mod", MAX_GO_MOD)) is not None

        if listed and (yield from has_go_mod(listed[-1])):
            # The latest compatible version has a go.mod: module consumers are meant to stay
            # on the v0/v1 line (golang.org/issue/34189).
            return listed
        out = list(listed)
        last_major = ""
        last_major_has_go_mod = False
        for i, v in enumerate(incompatible):
            major = _semver.major(v)
            if major != last_major:
                j = i
                while j + 1 < len(incompatible) and _semver.major(incompatible[j + 1]) == major:
                    j += 1
                last_major = major
                last_major_has_go_mod = yield from has_go_mod(incompatible[j])
            if last_major_has_go_mod:
                # Some minor versions +incompatible and others not would be confusing: the
                # whole major version is left out.
                continue
            out.append(v + _INCOMPATIBLE)
        return out

    # --- Stat and Latest ----------------------------------------------------------------------

    def _stat(self, memo: _Memo, rev: str) -> CodeFlow[RevResult]:
        if rev == "latest":
            return (yield from self._latest(memo))
        code_rev = self._rev_to_rev(rev)
        info = yield from self._git_stat(memo, code_rev)
        if info is None:
            raise CodeRepoError(
                f"{self.module_path}@{rev}: invalid version: unknown revision {code_rev}"
            )
        return (yield from self._convert(memo, info, rev, info.ref))

    def _latest(self, memo: _Memo) -> CodeFlow[RevResult]:
        info = yield from self._git_latest(memo)
        if info is None:
            raise CodeRepoError(f"module {self.module_path}: no commits")
        return (yield from self._convert(memo, info, "", "HEAD"))

    def _rev_to_rev(self, rev: str) -> str:
        """The repository revision for a version or other query (coderepo ``revToRev``)."""
        if not _semver.is_valid(rev):
            return rev
        if is_pseudo_version(rev):
            return pseudo_version_rev(rev)
        if _semver.build(rev) == _INCOMPATIBLE:
            rev = rev[: -len(_INCOMPATIBLE)]
        return self.code_dir + "/" + rev if self.code_dir else rev

    def _tag_prefix(self) -> str:
        return self.code_dir + "/" if self.code_dir else ""

    def _convert(self, memo: _Memo, info: RevInfo, stat_vers: str, ref: str) -> CodeFlow[RevResult]:
        """A repository revision as a module version (coderepo ``convert``)."""
        version = yield from self._convert_version(memo, info, stat_vers)
        origin = Origin(
            vcs=self.vcs,
            url=self.repo_url,
            subdir=self.code_dir,
            hash=info.name,
            ref=ref if ref != info.name else "",
        )
        if is_pseudo_version(version) and (
            version != stat_vers or not version.startswith("v0.0.0-")
        ):
            # The pseudo-version depended on the tags: record which, to tell when it changes.
            prefix = self._tag_prefix()
            if self.path_major:
                prefix += self.path_major[1:] + "."
            tags = yield from self._git_tags(memo, prefix)
            origin = msgspec.structs.replace(
                origin, tag_prefix=prefix, tag_sum=tag_sum(prefix, tags)
            )
        return RevResult(version=version, time=info.time, origin=origin)

    def _convert_version(self, memo: _Memo, info: RevInfo, stat_vers: str) -> CodeFlow[str]:
        mod = self.module_path
        incompatible_ok: dict[str, bool] = {}

        def can_use_incompatible(v: str) -> CodeFlow[bool]:
            # A subdirectory module has a go.mod; a /vN path must match its major.
            if self.code_dir or self.path_major:
                return False
            ok = incompatible_ok.get("")
            if ok is None:
                ok = (yield from self._read_ok(memo, info.name, "go.mod", MAX_GO_MOD)) is None
                incompatible_ok[""] = ok
            if not ok:
                return False  # A go.mod file exists at the repository root.
            # An explicitly requested +incompatible version stays allowed even if vN/go.mod
            # exists (go.dev/issue/51324); otherwise vN tags then belong to the vN module.
            if v and not stat_vers.endswith(_INCOMPATIBLE):
                major = _semver.major(v)
                ok = incompatible_ok.get(major)
                if ok is None:
                    gomod = yield from self._read_ok(
                        memo, info.name, _join(major, "go.mod"), MAX_GO_MOD
                    )
                    ok = gomod is None
                    incompatible_ok[major] = ok
                if not ok:
                    return False
            return True

        def check_canonical(v: str) -> CodeFlow[str]:
            # The go.mod must be where the path says, declaring the path: the author decides.
            try:
                yield from self._find_dir(memo, v)
            except CodeRepoError as err:
                raise CodeRepoError(f"{mod}@{v}: invalid version: {err.message}") from None

            def invalid(reason: str) -> CodeRepoError:
                return CodeRepoError(f"{mod}@{v}: invalid version: {reason}")

            if v == stat_vers.removesuffix(_INCOMPATIBLE):
                v = stat_vers
            base = v.removesuffix(_INCOMPATIBLE)
            err_incompatible: CodeRepoError | None = None
            if not match_path_major(base, self.path_major):
                if (yield from can_use_incompatible(base)):
                    v = base + _INCOMPATIBLE
                elif self.path_major:
                    err_incompatible = invalid(
                        "module path includes a major version suffix, so major version must match"
                    )
                else:
                    want = _join(self.path_prefix, _semver.major(v))
                    err_incompatible = invalid(
                        "module contains a go.mod file, so module path must match major "
                        f"version ({go_quote(want)})"
                    )
            elif v.endswith(_INCOMPATIBLE):
                err_incompatible = invalid(
                    f"+incompatible suffix not allowed: major version {_semver.major(v)} "
                    "is compatible"
                )
            if stat_vers and stat_vers == canonical_version(stat_vers):
                # A canonical request resolving to anything but itself would be confusing.
                stat_base = stat_vers.removesuffix(_INCOMPATIBLE)
                if stat_base != base:
                    raise CodeRepoError(
                        f"{mod}@{stat_vers}: invalid version: resolves to version {v} "
                        f"({stat_base} is not a tag)"
                    )
            if err_incompatible is not None:
                raise err_incompatible
            return v

        if is_pseudo_version(stat_vers):
            # Rule out a wrong directory or major before the (costlier) base tag check.
            v = yield from check_canonical(stat_vers)
            yield from self._validate_pseudo_version(memo, info, stat_vers)
            return v

        tag_prefix = self._tag_prefix()
        try:
            retractions = yield from self._retractions(memo)
        except (CodeRepoError, RepoFileError):
            retractions = []

        def is_retracted(v: str) -> bool:
            return any(r.covers(v) for r in retractions)

        def tag_to_version(tag: str) -> tuple[str, bool]:
            if not tag.startswith(tag_prefix):
                return "", False
            trimmed = tag[len(tag_prefix) :]
            if is_pseudo_version(tag):
                return "", False  # Tags that look like pseudo-versions would be confusing.
            # Not canonical_version: a "+incompatible" in the tag itself is not taken up.
            v = _semver.canonical(trimmed)
            if not v or not trimmed.startswith(v):
                return "", False  # Invalid, or incomplete (vX, vX.Y).
            return v, v == trimmed

        # The go command's RevInfo.Version is the request only when it is a tag of the commit.
        asked = info.version if info.version in info.tags else info.name
        v, canonical = tag_to_version(asked)
        if canonical:
            try:
                return (yield from check_canonical(v))
            except CodeRepoError:
                pass

        highest_canonical = ""
        pseudo_base = ""
        for path_tag in sorted(info.tags):
            v, canonical = tag_to_version(path_tag)
            if stat_vers and _semver.compare(v, stat_vers) == 0:
                if canonical:
                    # The canonical form of the requested version: resolve to exactly it.
                    return (yield from check_canonical(v))
                # An equivalent but non-canonical tag (v0.1.0+meta) could be ambiguous; it
                # can still be the base of an unambiguous pseudo-version.
                pseudo_base = v
            if (
                canonical
                and _semver.compare(highest_canonical, v) < 0
                and not is_retracted(v)
                and (match_path_major(v, self.path_major) or (yield from can_use_incompatible(v)))
            ):
                highest_canonical = v
        if highest_canonical:
            return (yield from check_canonical(highest_canonical))

        if not pseudo_base:
            # The highest allowed tag in the history makes the pseudo-version sort above it.
            merged = yield from self._merged_tags(memo, info.name)
            highest = ""
            for tag in merged:
                if not tag.startswith(tag_prefix):
                    continue
                tv, _ = tag_to_version(tag)
                if not tv:
                    continue
                if not match_path_major(tv, self.path_major) and not (
                    yield from can_use_incompatible(tv)
                ):
                    continue
                if is_retracted(tv):
                    continue
                semtag = tag[len(tag_prefix) :]
                if _semver.compare(semtag, highest) > 0:
                    highest = semtag
            if highest:
                pseudo_base, _ = tag_to_version(tag_prefix + highest)
        pv = pseudo_version(self.pseudo_major, pseudo_base, _utc(info.time), info.short)
        return (yield from check_canonical(pv))

    def _validate_pseudo_version(self, memo: _Memo, info: RevInfo, version: str) -> CodeFlow[None]:
        """Check a requested pseudo-version against the commit (``validatePseudoVersion``)."""
        invalid_version = version

        def invalid(reason: str) -> CodeRepoError:
            return CodeRepoError(
                f"{self.module_path}@{invalid_version}: invalid pseudo-version: {reason}"
            )

        try:
            rev = pseudo_version_rev(version)
            if rev != info.short:
                if rev.startswith(info.short):
                    raise invalid(f"revision is longer than canonical (expected {info.short})")
                if info.short.startswith(rev):
                    raise invalid(f"revision is shorter than canonical (expected {info.short})")
                raise invalid(f"does not match short name of revision (expected {info.short})")
            if pseudo_version_time(version) != _utc(info.time):
                expected = format_pseudo_timestamp(_utc(info.time))
                raise invalid(f"does not match version-control timestamp (expected {expected})")
            base = pseudo_version_base(version.removesuffix(_INCOMPATIBLE))
        except InvalidVersionError as err:
            invalid_version = err.version
            raise invalid(err.reason) from None

        if not base:
            if not self.pseudo_major and _semver.major(version) == "v1":
                raise invalid("major version without preceding tag must be v0, not v1")
            return
        tag_prefix = self._tag_prefix()
        for tag in sorted(info.tags):
            if tag.removeprefix(tag_prefix) == base:
                # A canonical tag on the commit already names it totally.
                raise invalid(
                    f"tag ({tag}) found on revision {rev} is already canonical, so should not "
                    "be replaced with a pseudo-version derived from that tag"
                )
        # The base must be a tag in the commit's history: no pinning above the real parents.
        tags = yield from self._git_tags(memo, tag_prefix + base)
        last_tag = ""
        for name, _ in tags.tags:
            if _semver.compare(name.removeprefix(tag_prefix), base) == 0:
                last_tag = name
                if (yield from self._descends_from(memo, info.name, name)):
                    return
        if not last_tag:
            raise invalid(f"preceding tag ({base}) not found")
        raise invalid(f"revision {rev} is not a descendent of preceding tag ({last_tag})")

    def _retractions(self, memo: _Memo) -> CodeFlow[list[Retraction]]:
        """The intervals retracted by the latest version's go.mod (``retractedVersions``)."""
        versions = yield from self._versions(memo, "")
        # +incompatible versions have no go.mod, and come after every other.
        versions = [v for v in versions if not v.endswith(_INCOMPATIBLE)]
        if not versions:
            return []
        releases = [v for v in versions if not _semver.prerelease(v)]
        highest = releases[-1] if releases else versions[-1]
        data = yield from self._go_mod_unchecked(memo, highest)
        return retractions_from_gomod(data)

    # --- findDir, GoMod, Zip ------------------------------------------------------------------

    def _find_dir(self, memo: _Memo, version: str) -> CodeFlow[_Dir]:
        """The module's directory and go.mod at a version (coderepo ``findDir``).

        Raises:
            CodeRepoError: with Go's bare ``findDir`` text (callers add the context).
        """
        if not _semver.is_valid(version):  # pragma: no cover - callers pass versions
            raise CodeRepoError(f"{self.module_path}@{version}: invalid version: syntax error")
        rev = self._rev_to_rev(version)
        root, pm = self.code_root, self.path_major
        file1 = _join(self.code_dir, "go.mod")
        # Go's ReadFile resolves the revision first: an unknown one is an error, not "absent".
        info = yield from self._git_stat(memo, rev)
        if info is None:
            raise CodeRepoError(f"reading {root}/{file1} at revision {rev}: unknown revision {rev}")
        commit = info.name

        def read(file: str) -> CodeFlow[bytes | None]:
            try:
                return (yield from self._read(memo, commit, file, MAX_GO_MOD))
            except RepoFileError as err:
                raise CodeRepoError(f"reading {root}/{file} at revision {rev}: {err}") from None

        gomod1 = yield from read(file1)
        mpath1 = module_path(gomod1) if gomod1 is not None else ""
        found1 = gomod1 is not None and (
            _is_major(mpath1, pm) or (not pm and mpath1.startswith("gopkg.in/"))
        )  # The latter: golang.org/issue/34254 let unversioned paths replace gopkg.in ones.

        file2 = ""
        if pm and self.code_root != self.module_path and not pm.startswith("."):
            # Either go.mod claims /vN and vN/go.mod does not exist, or vN/go.mod claims /vN.
            dir2 = _join(self.code_dir, pm[1:])
            file2 = _join(dir2, "go.mod")
            gomod2 = yield from read(file2)
            mpath2 = module_path(gomod2) if gomod2 is not None else ""
            found2 = gomod2 is not None and _is_major(mpath2, pm)
            if found1 and found2:
                raise CodeRepoError(
                    f"{self.path_prefix}/{file1} and ...{pm}/go.mod both have ...{pm} module "
                    f"paths at revision {rev}"
                )
            if found2:
                return _Dir(info, rev, dir2, gomod2)
            if gomod2 is not None:
                if not mpath2:
                    raise CodeRepoError(f"{root}/{file2} is missing module path at revision {rev}")
                raise CodeRepoError(
                    f"{root}/{file2} has non-...{pm} module path {go_quote(mpath2)} at "
                    f"revision {rev}"
                )

        if found1:
            return _Dir(info, rev, self.code_dir, gomod1)
        if gomod1 is not None:
            # A go.mod whose path does not fit the major version.
            suffix = f" (and ...{pm}/go.mod does not exist)" if file2 else ""
            if not mpath1:
                raise CodeRepoError(f"{file1} is missing module path{suffix} at revision {rev}")
            q = go_quote(mpath1)
            if pm:
                raise CodeRepoError(
                    f"{file1} has non-...{pm} module path {q}{suffix} at revision {rev}"
                )
            if not split_path_version(mpath1)[2]:
                raise CodeRepoError(
                    f"{file1} has malformed module path {q}{suffix} at revision {rev}"
                )
            raise CodeRepoError(
                f"{file1} has post-{_semver.major(version)} module path {q}{suffix} at "
                f"revision {rev}"
            )
        if not self.code_dir and (not pm or pm.startswith(".")):
            # No go.mod at the root: fine for v0/v1 (and gopkg.in).
            return _Dir(info, rev, "", None)
        if file2:
            raise CodeRepoError(
                f"missing {self.path_prefix}/go.mod and ...{pm}/go.mod at revision {rev}"
            )
        raise CodeRepoError(f"missing {self.path_prefix}/go.mod at revision {rev}")

    def _go_mod_unchecked(self, memo: _Memo, version: str) -> CodeFlow[bytes]:
        """Go's ``GoMod`` for a listed version: the go.mod found, or the synthesized one."""
        found = yield from self._find_dir(memo, version)
        if found.gomod is not None:
            return found.gomod
        data = yield from self._read(memo, found.info.name, _join(found.dir, "go.mod"), MAX_GO_MOD)
        return legacy_go_mod(self.module_path) if data is None else data

    def _check_version(self, memo: _Memo, version: str) -> CodeFlow[None]:
        """What ``go mod download`` checks before fetching: canonical, resolving to itself."""
        if version != canonical_version(version):
            raise CodeRepoError(f"version {version} is not canonical")
        try:
            check_path_major(version, self.path_major)
        except InvalidVersionError as err:
            raise CodeRepoError(
                f"{self.module_path}@{version}: invalid version: {err.reason}"
            ) from None
        result = yield from self._stat(memo, version)
        if result.version != version:  # pragma: no cover - convert resolves canonical to itself
            raise CodeRepoError(
                f"{self.module_path}@{version}: invalid version: resolves to version "
                f"{result.version}"
            )

    def _go_mod(self, memo: _Memo, version: str) -> CodeFlow[bytes]:
        yield from self._check_version(memo, version)
        return (yield from self._go_mod_unchecked(memo, version))

    def _zip_plan(self, memo: _Memo, version: str) -> CodeFlow[ZipPlan]:
        yield from self._check_version(memo, version)
        found = yield from self._find_dir(memo, version)
        subdir = found.dir.strip("/")
        root_license = None
        if subdir:
            root_license = yield from self._read_ok(memo, found.info.name, "LICENSE", MAX_LICENSE)
        return ZipPlan(rev=found.info.name, subdir=subdir, root_license=root_license)


# --- the zip ----------------------------------------------------------------------------------

# archive/zip: creator systems whose external attributes it reads, and the Unix type bits.
_CREATOR_UNIX: Final = frozenset({3, 19})  # Unix, macOS
_CREATOR_DOS: Final = frozenset({0, 11, 14})  # FAT, NTFS, VFAT
_S_IFMT: Final = 0o170000
_UNIX_TYPES: Final = {
    0o040000: FileMode.DIR,
    0o120000: FileMode.SYMLINK,
    0o060000: FileMode.OTHER,  # block device
    0o020000: FileMode.OTHER,  # character device
    0o010000: FileMode.OTHER,  # named pipe
    0o140000: FileMode.OTHER,  # socket
}


def _entry_mode(info: zipfile.ZipInfo) -> FileMode:
    """The file type archive/zip's ``FileHeader.Mode`` gives an entry."""
    if info.create_system in _CREATOR_UNIX:
        return _UNIX_TYPES.get((info.external_attr >> 16) & _S_IFMT, FileMode.REGULAR)
    if info.create_system in _CREATOR_DOS and info.external_attr & 0x10:
        return FileMode.DIR
    return FileMode.REGULAR


def _opener(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], BinaryIO]:
    return lambda: cast("BinaryIO", z.open(info))


def _bytes_opener(data: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(data)


def zip_from_archive(
    module_path: str, version: str, plan: ZipPlan, archive: BinaryIO, out: BinaryIO
) -> str:
    """Build the module zip from a ``git archive --format=zip`` of the plan's commit.

    As coderepo ``Zip``: every entry must be under one top-level directory (whatever its
    name); entries outside ``plan.subdir`` and directories are skipped; symlinks and other
    irregular files are left out by the zip rules, as are nested modules and vendored
    packages; the root ``LICENSE`` is added when the module directory has none. Contents are
    copied in bounded chunks.

    Args:
        module_path: the module path.
        version: the canonical version.
        plan: what :meth:`CodeRepo.zip_plan` answered for the version.
        archive: a readable, seekable stream holding the archive, made as the go command
            makes it: ``git -c core.autocrlf=input -c core.eol=lf archive --format=zip
            --prefix=prefix/ <rev> [-- <subdir>]`` with ``* -export-subst -export-ignore`` in
            the repository's ``info/attributes`` (codehost/git.go ``ReadZip``).
        out: where the module zip is written.

    Returns:
        The zip's h1 hash.

    Raises:
        ZipError: the archive is too large or not a single-directory zip, or the files break
            the module zip rules.
    """
    size = archive.seek(0, io.SEEK_END)
    if size > MAX_ZIP_FILE:
        raise ZipError("downloaded zip file too large")
    archive.seek(0)
    try:
        z = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, ValueError) as err:
        raise ZipError(f"zip: not a valid zip file ({err})") from None
    with z:
        return _zip_from(module_path, version, plan, z, out)


def _zip_from(
    module_path: str, version: str, plan: ZipPlan, z: zipfile.ZipFile, out: BinaryIO
) -> str:
    subdir = plan.subdir.strip("/")
    if subdir:
        subdir += "/"
    files: list[SourceFile] = []
    have_license = False
    top_prefix = ""
    for info in z.infolist():
        full = entry_name(info)
        if not top_prefix:
            i = full.find("/")
            if i < 0:
                raise ZipError("missing top-level directory prefix")
            top_prefix = full[: i + 1]
        if not full.startswith(top_prefix):
            raise ZipError("zip file contains more than one top-level directory")
        name = full[len(top_prefix) :]
        if not name.startswith(subdir):
            continue
        name = name[len(subdir) :]
        if not name or name.endswith("/"):
            continue
        files.append(SourceFile(name, info.file_size, _opener(z, info), _entry_mode(info)))
        if name == "LICENSE":
            have_license = True
    if not have_license and subdir and plan.root_license is not None:
        data = plan.root_license
        files.append(SourceFile("LICENSE", len(data), _bytes_opener(data)))
    return create_zip(module_path, version, files, out)
