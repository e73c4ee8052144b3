"""What the core asks of a code repository when it builds answers from version control.

Direct mode (``direct`` in the upstream list, and every module matching the private
patterns) answers the proxy protocol from a repository instead of another proxy. The
decisions (which tags are versions, pseudo-versions, ``+incompatible``, where the go.mod
is, what goes in the zip) are the core's (:mod:`.coderepo`); the repository is reached by
the caller. The core's flows are generators that yield the queries below and receive their
answers, exactly like the request flows of :mod:`goproxy_core.proxy.engine` yield store and
upstream effects.
The queries mirror golang/go ``src/cmd/go/internal/modfetch/codehost`` ``Repo``.

A query that fails for a reason other than "no such revision" or "no such file" (the
repository cannot be reached, git failed, a timeout) is the caller's to report: it stops the
flow and answers the client itself; the flow never sees it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeAlias, TypeVar

import msgspec

from ..errors import ProxyError

__all__ = [
    "CodeFlow",
    "CodeQuery",
    "GitDescendsFrom",
    "GitLatest",
    "GitMergedTags",
    "GitReadFile",
    "GitStat",
    "GitTags",
    "Origin",
    "RepoFileError",
    "RevInfo",
    "TagList",
]

T = TypeVar("T")


class Origin(msgspec.Struct, frozen=True, omit_defaults=True, rename="pascal"):
    """Where an answer came from, as the go command writes it into ``.info`` (``Origin``).

    Field names on the wire are Go's: ``VCS``, ``URL``, ``Subdir``, ``Hash``, ``TagPrefix``,
    ``TagSum``, ``Ref``, ``RepoSum``; empty ones are left out.
    """

    vcs: str = msgspec.field(default="", name="VCS")
    url: str = msgspec.field(default="", name="URL")
    subdir: str = ""
    hash: str = ""
    tag_prefix: str = ""
    tag_sum: str = ""
    ref: str = ""
    repo_sum: str = ""


class RevInfo(msgspec.Struct, frozen=True):
    """A revision of the repository (codehost ``RevInfo``).

    Attributes:
        name: the full commit hash.
        short: the 12-character prefix used in pseudo-versions.
        version: the revision as it was asked for (tag, branch, hash prefix, ``HEAD``).
        time: the commit time, seconds since the epoch (UTC).
        tags: every tag pointing at this commit (names without ``refs/tags/``).
        ref: the ref the revision was resolved through (``refs/tags/v1.0.0``,
            ``refs/heads/main``, ``HEAD``), empty when it was a commit hash.
    """

    name: str
    short: str
    version: str
    time: int
    tags: tuple[str, ...] = ()
    ref: str = ""


class TagList(msgspec.Struct, frozen=True):
    """The repository's tags with a prefix: ``(name, commit hash)`` pairs, names complete."""

    tags: tuple[tuple[str, str], ...]


class GitTags(msgspec.Struct, frozen=True):
    """List the tags whose names start with ``prefix``. Answer: :class:`TagList`."""

    prefix: str


class GitStat(msgspec.Struct, frozen=True):
    """Resolve ``rev`` (tag, branch, full or short commit hash) to a commit.

    Answer: :class:`RevInfo`, or None when the repository has no such revision.
    """

    rev: str


class GitLatest(msgspec.Struct, frozen=True):
    """Resolve the default branch (``HEAD``).

    Answer: :class:`RevInfo` (with ``ref`` ``HEAD``), or None for an empty repository.
    """


class GitReadFile(msgspec.Struct, frozen=True):
    """Read ``path`` (slash-separated, relative to the repository root) at commit ``rev``.

    Answer: the file's bytes; None when no file has that path at that commit (as for the
    go command, a symbolic link answers with its target, a blob like any other).
    A file larger than ``max_size`` is an error (:class:`RepoFileError`), never truncated.
    """

    rev: str
    path: str
    max_size: int


class GitMergedTags(msgspec.Struct, frozen=True):
    """The names of all tags reachable from commit ``rev`` (``git tag --merged``).

    Answer: ``tuple[str, ...]``.
    """

    rev: str


class GitDescendsFrom(msgspec.Struct, frozen=True):
    """Whether commit ``rev`` has tag ``tag`` in its history (the tag's commit included).

    Answer: bool.
    """

    rev: str
    tag: str


CodeQuery: TypeAlias = GitTags | GitStat | GitLatest | GitReadFile | GitMergedTags | GitDescendsFrom
"""Everything a direct-mode flow may ask of the repository."""

CodeFlow: TypeAlias = Generator[CodeQuery, object, T]
"""A direct-mode flow: yields queries, receives their answers, returns ``T``."""


class RepoFileError(ProxyError):
    """A file in the repository breaks a limit (too large to be a go.mod or LICENSE)."""
