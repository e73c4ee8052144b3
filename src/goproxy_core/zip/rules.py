"""Module zip rules: which files belong in a module zip, and what makes one invalid.

Owns PROTOCOL.md §12: every entry under ``<module>@<version>/``; file paths valid, clean and
relative; no two names equal under Unicode simple case folding; no name both a file and a
directory; ``go.mod`` only at the root and only in lower case; at most 500 MiB of content,
16 MiB for the root ``go.mod`` and ``LICENSE``; each file no larger than declared. A zip
omits nested modules, vendored packages (with the go 1.24 change, read from the root
go.mod's ``go`` line), ``.hg_archival.txt``, symlinks and irregular files, and, when the files
come from a directory walk, ``.git``/``.hg``/``.svn``/``.bzr`` directories. Building a zip is
:mod:`.create`; reading and checking one, and its h1 (§15), is :mod:`.read`.

Ported from golang.org/x/mod ``zip/zip.go`` (``CheckFiles``, ``CheckDir``, ``checkFiles``,
``listFilesInDir``, ``isVendoredPackage``, ``strToFold``, the predefined errors) with Go's
``unicode.SimpleFold`` and ``path.Clean``. Reasons and errors are Go's exact texts.

Theory of operation: the core never opens files. Callers describe files as
:class:`SourceFile` values (name, declared size, kind, and a callable that opens a readable
stream), and zips as readable seekable streams. Contents always move in bounded chunks, so a
500 MiB module never sits in memory; only names, sizes and 32-byte digests are kept.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Final, NamedTuple

from ..errors import InvalidPathError, ProxyError
from ..modfile import rule as _gomod
from ..module import paths as _paths
from ..strconv import go_quote

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "MAX_GO_MOD",
    "MAX_LICENSE",
    "MAX_ZIP_FILE",
    "CheckedFiles",
    "FileEntry",
    "FileError",
    "FileMode",
    "SourceFile",
    "ZipError",
    "check_dir",
    "check_files",
    "is_vendored_package",
    "str_to_fold",
]

MAX_ZIP_FILE: Final = 500 << 20
"""Largest module zip, and largest total uncompressed content (x/mod ``MaxZipFile``)."""
MAX_GO_MOD: Final = 16 << 20
"""Largest root ``go.mod`` in a module zip (x/mod ``MaxGoMod``)."""
MAX_LICENSE: Final = 16 << 20
"""Largest root ``LICENSE`` in a module zip (x/mod ``MaxLICENSE``)."""

# Reasons, in Go's words (x/mod zip.go's predefined errors).
ERR_PATH_NOT_CLEAN: Final = "file path is not clean"
ERR_PATH_NOT_RELATIVE: Final = "file path is not relative"
ERR_GO_MOD_CASE: Final = "go.mod files must have lowercase names"
ERR_GO_MOD_SIZE: Final = f"go.mod file too large (max size is {MAX_GO_MOD} bytes)"
ERR_LICENSE_SIZE: Final = f"LICENSE file too large (max size is {MAX_LICENSE} bytes)"
ERR_GO_MOD_NOT_ROOT: Final = "go.mod file not in module root directory"
ERR_VCS: Final = "directory is a version control repository"
ERR_VENDORED: Final = "file is in vendor directory"
ERR_SUBMODULE_FILE: Final = "file is in another module"
ERR_SUBMODULE_DIR: Final = "directory is in another module"
ERR_HG_ARCHIVAL: Final = "file is inserted by 'hg archive' and is always omitted"
ERR_SYMLINK: Final = "file is a symbolic link"
ERR_NOT_REGULAR: Final = "not a regular file"
ERR_TREE_SIZE: Final = f"module source tree too large (max size is {MAX_ZIP_FILE} bytes)"
ERR_CONTENT_SIZE: Final = (
    f"total uncompressed size of module contents too large (max size is {MAX_ZIP_FILE} bytes)"
)
# archive/zip's sentinel errors, for zips that cannot be read.
ERR_FORMAT: Final = "zip: not a valid zip file"
ERR_ALGORITHM: Final = "zip: unsupported compression algorithm"
ERR_CHECKSUM: Final = "zip: checksum error"

_VCS_DIRS: Final = frozenset({".bzr", ".git", ".hg", ".svn"})


class FileMode(enum.Enum):
    """What kind of file system object a :class:`SourceFile` is (its ``Lstat`` mode type)."""

    REGULAR = "regular"
    DIR = "dir"
    SYMLINK = "symlink"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file offered for a module zip (x/mod ``zip.File``).

    Attributes:
        name: clean slash-separated path relative to the module root.
        size: the declared size in bytes; more content than this is an error.
        open: returns a readable stream of the content; needed for files that are written
            and for the root ``go.mod`` (its ``go`` line decides the vendor rules).
        mode: regular file, directory, symlink or other; only regular files are zipped.
    """

    name: str
    size: int = 0
    open: Callable[[], BinaryIO] | None = None
    mode: FileMode = FileMode.REGULAR

    @property
    def is_regular(self) -> bool:
        """Whether this is a regular file."""
        return self.mode is FileMode.REGULAR

    @property
    def is_symlink(self) -> bool:
        """Whether this is a symbolic link (never followed, never zipped)."""
        return self.mode is FileMode.SYMLINK

    @property
    def is_dir(self) -> bool:
        """Whether this is a directory."""
        return self.mode is FileMode.DIR


FileEntry = SourceFile
"""A file described for checking only; the same shape as :class:`SourceFile`."""


class FileError(NamedTuple):
    """One omitted or invalid file and why (x/mod ``zip.FileError``)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(slots=True)
class CheckedFiles:
    """Which files belong in a module zip (x/mod ``zip.CheckedFiles``).

    Attributes:
        valid: paths that go (or are) in the zip, in the order given.
        omitted: files left out on purpose, with the reason.
        invalid: files that make the zip invalid, with the reason.
        size_error: set when the total size, or the zip itself, is too large.
        zip_hash: for a checked zip, its go.sum h1 (x/mod ``dirhash.HashZip``).
        dir_hash: for a checked zip, the h1 of the tree it extracts to (``Unzip`` then
            ``HashDir``): the same as ``zip_hash`` unless the zip holds directory entries.
    """

    valid: list[str] = field(default_factory=list)
    omitted: list[FileError] = field(default_factory=list)
    invalid: list[FileError] = field(default_factory=list)
    size_error: str | None = None
    zip_hash: str | None = None
    dir_hash: str | None = None

    @property
    def error(self) -> str | None:
        """Why these files are not a valid module zip, in Go's words, or None if they are."""
        if self.size_error is not None:
            return self.size_error
        if self.invalid:
            return "\n".join(map(str, self.invalid))
        return None


class ZipError(ProxyError):
    """A module zip, or the files for one, break the module zip rules.

    Attributes:
        checked: the full report when the failure came from checking files, else None.
    """

    def __init__(self, message: str, checked: CheckedFiles | None = None) -> None:
        super().__init__(message)
        self.checked = checked


# --- Go's path helpers ------------------------------------------------------------------


def _go_clean(p: str) -> str:
    """Go's ``path.Clean``: the shortest equivalent slash path ("." for empty)."""
    if not p:
        return "."
    rooted = p[0] == "/"
    parts: list[str] = []
    for elem in p.split("/"):
        if elem in ("", "."):
            continue
        if elem == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(elem)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def _is_go_mod_name(base: str) -> bool:
    """Go's ``strings.EqualFold(base, "go.mod")``; no letter of it has a non-ASCII partner."""
    return len(base) == 6 and base.isascii() and base.lower() == "go.mod"


# --- case folding (Go's unicode.SimpleFold and x/mod's strToFold) -------------------------

# Go's unicode caseOrbit: the folding orbits with more than two members, plus the runes whose
# orbit is not just their simple lower/upper pair (K k U+212A, S s U+017F, Greek sigma...).
# Unicode data (Go's unicode/tables.go), written here as (from, to) pairs.
_CASE_ORBIT: Final[dict[int, int]] = {
    0x004B: 0x006B, 0x0053: 0x0073, 0x006B: 0x212A, 0x0073: 0x017F, 0x00B5: 0x039C,
    0x00C5: 0x00E5, 0x00DF: 0x1E9E, 0x00E5: 0x212B, 0x0130: 0x0130, 0x0131: 0x0131,
    0x017F: 0x0053, 0x01C4: 0x01C5, 0x01C5: 0x01C6, 0x01C6: 0x01C4, 0x01C7: 0x01C8,
    0x01C8: 0x01C9, 0x01C9: 0x01C7, 0x01CA: 0x01CB, 0x01CB: 0x01CC, 0x01CC: 0x01CA,
    0x01F1: 0x01F2, 0x01F2: 0x01F3, 0x01F3: 0x01F1, 0x0345: 0x0399, 0x0392: 0x03B2,
    0x0395: 0x03B5, 0x0398: 0x03B8, 0x0399: 0x03B9, 0x039A: 0x03BA, 0x039C: 0x03BC,
    0x03A0: 0x03C0, 0x03A1: 0x03C1, 0x03A3: 0x03C2, 0x03A6: 0x03C6, 0x03A9: 0x03C9,
    0x03B2: 0x03D0, 0x03B5: 0x03F5, 0x03B8: 0x03D1, 0x03B9: 0x1FBE, 0x03BA: 0x03F0,
    0x03BC: 0x00B5, 0x03C0: 0x03D6, 0x03C1: 0x03F1, 0x03C2: 0x03C3, 0x03C3: 0x03A3,
    0x03C6: 0x03D5, 0x03C9: 0x2126, 0x03D0: 0x0392, 0x03D1: 0x03F4, 0x03D5: 0x03A6,
    0x03D6: 0x03A0, 0x03F0: 0x039A, 0x03F1: 0x03A1, 0x03F4: 0x0398, 0x03F5: 0x0395,
    0x0412: 0x0432, 0x0414: 0x0434, 0x041E: 0x043E, 0x0421: 0x0441, 0x0422: 0x0442,
    0x042A: 0x044A, 0x0432: 0x1C80, 0x0434: 0x1C81, 0x043E: 0x1C82, 0x0441: 0x1C83,
    0x0442: 0x1C84, 0x044A: 0x1C86, 0x0462: 0x0463, 0x0463: 0x1C87, 0x1C80: 0x0412,
    0x1C81: 0x0414, 0x1C82: 0x041E, 0x1C83: 0x0421, 0x1C84: 0x1C85, 0x1C85: 0x0422,
    0x1C86: 0x042A, 0x1C87: 0x0462, 0x1C88: 0xA64A, 0x1E60: 0x1E61, 0x1E61: 0x1E9B,
    0x1E9B: 0x1E60, 0x1E9E: 0x00DF, 0x1FBE: 0x0345, 0x2126: 0x03A9, 0x212A: 0x004B,
    0x212B: 0x00C5, 0xA64A: 0xA64B, 0xA64B: 0x1C88,
}  # fmt: skip


def _simple_fold(r: int) -> int:
    """Go's ``unicode.SimpleFold``: the next rune, cyclically, equal to ``r`` under folding."""
    orbit = _CASE_ORBIT.get(r)
    if orbit is not None:
        return orbit
    ch = chr(r)
    # Outside the orbit table a class is {r, ToLower(r)} or {r, ToUpper(r)} with Go's simple
    # (one-rune) mappings. Python's lower/upper are the full mappings; where those give
    # several runes, the simple upper mapping is the one-rune title case, if any.
    lower = ch.lower()
    if len(lower) == 1 and lower != ch:
        return ord(lower)
    upper = ch.upper()
    if len(upper) != 1:
        upper = ch.title()
    if len(upper) == 1:
        return ord(upper)
    return r


@functools.lru_cache(maxsize=4096)
def _fold_rune(ch: str) -> str:
    """The representative of ``ch``'s folding orbit, as x/mod ``strToFold`` picks it."""
    r = ord(ch)
    if 0xD800 <= r <= 0xDFFF:
        # An undecodable byte: Go's range loop sees U+FFFD there.
        return "\ufffd"
    # Walk the orbit upwards until it wraps: that is its smallest member.
    while True:
        r0 = r
        r = _simple_fold(r0)
        if r <= r0:
            break
    if 0x41 <= r <= 0x5A:
        r += 0x20
    return chr(r)


def str_to_fold(s: str) -> str:
    """A key such that two names collide iff their keys are equal (x/mod ``strToFold``).

    This is Go's ``strings.EqualFold`` (Unicode simple case folding), not ``str.casefold``:
    the Kelvin sign folds to ``k``, but ``ß`` does not equal ``ss``.
    """
    if s.isascii():
        # ASCII orbits are letter pairs plus K/S with non-ASCII partners that fold to them.
        return s.lower()
    return "".join(map(_fold_rune, s))


class _Collisions:
    """Finds case-insensitive name collisions and names that are both file and directory."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, bool]] = {}

    def check(self, p: str, is_dir: bool) -> str | None:
        """Record ``p`` and its parent directories; the first clash found, in Go's words."""
        while True:
            fold = str_to_fold(p)
            other = self._seen.get(fold)
            if other is None:
                self._seen[fold] = (p, is_dir)
            elif p != other[0]:
                return (
                    f"case-insensitive file name collision: {go_quote(other[0])} and {go_quote(p)}"
                )
            elif is_dir != other[1]:
                return f"entry {go_quote(p)} is both a file and a directory"
            elif not is_dir:
                return f"multiple entries for file {go_quote(p)}"
            # Parents are checked as directories; the same directory may come up many times.
            slash = p.rfind("/")
            if slash <= 0:
                return None
            p, is_dir = p[:slash], True


# --- go version rules for vendored files ------------------------------------------------

# A Go toolchain version (go/version): major[.minor[.patch]][kind[pre]], no leading zeros.
_GOVER_RE: Final = re.compile(
    r"go(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)|[a-z]+(?:0|[1-9][0-9]*)?)?)?"
).fullmatch


def _go_lang_at_least_1_24(vers: str) -> bool:
    """Go's ``version.Compare(vers, "go1.24") >= 0``; an invalid version is older than all."""
    m = _GOVER_RE(vers.split("-", 1)[0])  # go/version ignores a "-bigcorp" suffix
    if m is None:
        return False
    return (int(m[1]), int(m[2] or 0)) >= (1, 24)


def _read_go_version(f: SourceFile) -> str:
    """``"go" + <go line>`` of a root go.mod, or "" when it has none or cannot be read."""
    if f.open is None:
        return ""
    with f.open() as stream:
        data = stream.read(MAX_GO_MOD + 1)
    version = _gomod.go_version(data)
    return "go" + version if version else ""


def is_vendored_package(name: str, go_version: str) -> bool:
    """Whether ``name`` is in a vendored package and so left out of a zip (x/mod zip.go).

    A file is vendored if it sits in a sub-directory of a ``vendor`` directory. From go 1.24
    (golang.org/issue/37397, /63395) ``vendor/modules.txt`` is vendored too, and
    ``pkg/vendor/file.go`` no longer is.

    Args:
        name: slash path relative to the module root.
        go_version: the root go.mod's version as ``"go1.N..."``, or "" when there is none.
    """
    new_rules = _go_lang_at_least_1_24(go_version)
    if new_rules and name == "vendor/modules.txt":
        return True
    if name.startswith("vendor/"):
        i = len("vendor/")
    else:
        j = name.find("/vendor/")
        if j < 0:
            return False
        # Before go 1.24 only len("/vendor/") was skipped, from the start of the name.
        i = j + len("/vendor/") if new_rules else len("/vendor/")
    return "/" in name[i:]


# --- checking files ---------------------------------------------------------------------


def _check_files(files: list[SourceFile]) -> tuple[CheckedFiles, list[SourceFile]]:
    """CheckFiles, also returning the valid files themselves for Create."""
    cf = CheckedFiles()
    error_paths: set[str] = set()

    def add_error(p: str, omitted: bool, reason: str) -> None:
        if p in error_paths:
            return
        error_paths.add(p)
        (cf.omitted if omitted else cf.invalid).append(FileError(p, reason))

    # Directories holding a go.mod (other than the root) are other modules.
    have_go_mod: set[str] = set()
    vers = ""
    for f in files:
        slash = f.name.rfind("/")
        dir_, base = f.name[: slash + 1], f.name[slash + 1 :]
        if _is_go_mod_name(base) and f.is_regular:
            have_go_mod.add(dir_)
            if base == "go.mod" and not dir_:
                vers = _read_go_version(f)

    def in_submodule(p: str) -> bool:
        while (slash := p.rfind("/")) >= 0:
            if p[: slash + 1] in have_go_mod:
                return True
            p = p[:slash]
        return False

    collisions = _Collisions()
    budget = MAX_ZIP_FILE
    valid: list[SourceFile] = []
    for f in files:
        p = f.name
        if p != _go_clean(p):
            add_error(p, False, ERR_PATH_NOT_CLEAN)
        elif p.startswith("/"):
            add_error(p, False, ERR_PATH_NOT_RELATIVE)
        elif is_vendored_package(p, vers):
            add_error(p, True, ERR_VENDORED)
        elif in_submodule(p):
            add_error(p, True, ERR_SUBMODULE_FILE)
        elif p == ".hg_archival.txt":
            # Inserted by 'hg archive'; dropped whatever the VCS.
            add_error(p, True, ERR_HG_ARCHIVAL)
        elif (reason := _file_path_error(p)) is not None:
            add_error(p, False, reason)
        elif _is_go_mod_name(p) and p != "go.mod":
            add_error(p, False, ERR_GO_MOD_CASE)
        elif (reason := collisions.check(p, f.is_dir)) is not None:
            add_error(p, False, reason)
        elif f.is_symlink:
            add_error(p, True, ERR_SYMLINK)
        elif not f.is_regular:
            add_error(p, True, ERR_NOT_REGULAR)
        else:
            if 0 <= f.size <= budget:
                budget -= f.size
            elif cf.size_error is None:
                cf.size_error = ERR_TREE_SIZE
            if p == "go.mod" and f.size > MAX_GO_MOD:
                add_error(p, False, ERR_GO_MOD_SIZE)
            elif p == "LICENSE" and f.size > MAX_LICENSE:
                add_error(p, False, ERR_LICENSE_SIZE)
            else:
                cf.valid.append(p)
                valid.append(f)
    return cf, valid


def _file_path_error(p: str) -> str | None:
    """x/mod ``module.CheckFilePath``'s error text for ``p``, or None if it is valid."""
    try:
        _paths.check_file_path(p)
    except InvalidPathError as err:
        return err.message
    return None


def _raise_if_invalid(cf: CheckedFiles, verb: str = "") -> CheckedFiles:
    """Return ``cf`` if it describes a valid zip; else raise its error with the report."""
    error = cf.error
    if error is not None:
        raise ZipError(verb + error, checked=cf)
    return cf


def check_files(files: Iterable[SourceFile]) -> CheckedFiles:
    """Check files against the module zip rules (x/mod ``zip.CheckFiles``).

    Every file lands in exactly one of ``valid``, ``omitted`` and ``invalid``. Contents are
    not read, except the root ``go.mod``'s (its ``go`` line decides the vendor rules).

    Args:
        files: the module's files, names relative to the module root.

    Returns:
        The report, when the files make a valid module zip.

    Raises:
        ZipError: they do not; its ``checked`` holds the full report.
    """
    return _raise_if_invalid(_check_files(list(files))[0])


# --- files from a directory walk --------------------------------------------------------


class _Dir:
    """A directory of a walked tree: its children by name."""

    __slots__ = ("children", "entry")

    def __init__(self, entry: SourceFile | None) -> None:
        self.entry = entry
        self.children: dict[str, _Dir | SourceFile] = {}


def _build_tree(files: list[SourceFile]) -> _Dir:
    """The directory tree the files describe; parents of every name are implied."""
    root = _Dir(None)
    for f in files:
        parts = f.name.split("/")
        node = root
        for part in parts[:-1]:
            child = node.children.get(part)
            if not isinstance(child, _Dir):
                child = node.children[part] = _Dir(None)
            node = child
        last = parts[-1]
        if f.is_dir:
            existing = node.children.get(last)
            if not isinstance(existing, _Dir):
                node.children[last] = _Dir(f)
        elif last not in node.children:
            node.children[last] = f
    return root


def _list_files_in_dir(
    files: Iterable[SourceFile],
) -> tuple[list[SourceFile], list[FileError]]:
    """x/mod ``listFilesInDir``: walk the tree in Go's order, skipping what CreateFromDir does."""
    root = _build_tree(list(files))
    gomod = root.children.get("go.mod")
    vers = _read_go_version(gomod) if isinstance(gomod, SourceFile) else ""
    out: list[SourceFile] = []
    omitted: list[FileError] = []

    def walk(node: _Dir, prefix: str) -> None:
        # filepath.Walk visits names in byte order, each directory before its contents.
        for name in sorted(node.children, key=lambda n: n.encode("utf-8", "surrogateescape")):
            child = node.children[name]
            rel = prefix + name
            if is_vendored_package(rel, vers):
                omitted.append(FileError(rel, ERR_VENDORED))
                if isinstance(child, _Dir):
                    walk(child, rel + "/")
            elif isinstance(child, _Dir):
                if name in _VCS_DIRS:
                    omitted.append(FileError(rel, ERR_VCS))
                    continue
                sub_gomod = child.children.get("go.mod")
                if sub_gomod is not None and not isinstance(sub_gomod, _Dir):
                    omitted.append(FileError(rel, ERR_SUBMODULE_DIR))
                    continue
                walk(child, rel + "/")
            elif not child.is_regular:
                omitted.append(FileError(rel, ERR_NOT_REGULAR))
            else:
                out.append(child)

    walk(root, "")
    return out, omitted


def check_dir(files: Iterable[SourceFile]) -> CheckedFiles:
    """Check a directory tree as CreateFromDir would see it (x/mod ``zip.CheckDir``).

    Directories that are skipped whole (VCS metadata, nested modules) are reported once in
    ``omitted`` and their files are not listed. Paths stay relative to the tree's root; a
    caller that wants Go's exact report joins them to the directory it walked.

    Args:
        files: every file of the tree (directories are implied by names; empty ones may be
            given with ``mode=FileMode.DIR``), names relative to the tree's root.

    Returns:
        The report, when the tree makes a valid module zip.

    Raises:
        ZipError: it does not; its ``checked`` holds the full report.
    """
    listed, omitted = _list_files_in_dir(files)
    cf = _check_files(listed)[0]
    cf.omitted.extend(omitted)
    return _raise_if_invalid(cf)


# --- module path and version ------------------------------------------------------------


def _check_module(path: str, version: str) -> str:
    """Check ``path@version`` as Create and CheckZip do; return the zip's name prefix."""
    canonical = _paths.canonical_version(version)
    if canonical != version:
        raise ZipError(
            f"version {go_quote(version)} is not canonical (should be {go_quote(canonical)})"
        )
    _paths.check(path, version)
    return f"{path}@{version}/"
