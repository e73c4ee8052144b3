"""An in-memory git repository that answers the direct-mode queries of ``_codehost``.

Commits have parents, a time and a tree (path -> bytes, or :class:`Link` for a symlink); tags
and branches point at commits; ``HEAD`` names a branch. :meth:`FakeRepo.answer` answers each
query the way the go command's git layer (``codehost/git.go``) would, and :func:`run` drives a
flow to its result, recording the queries asked.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from goproxy_core.direct import (
    GitDescendsFrom,
    GitLatest,
    GitMergedTags,
    GitReadFile,
    GitStat,
    GitTags,
    RepoFileError,
    RevInfo,
    TagList,
)


@dataclass(frozen=True)
class Link:
    """A symbolic link in a tree, pointing at ``target``."""

    target: str


Tree = Mapping[str, "bytes | Link | None"]


@dataclass
class Commit:
    hash: str
    parents: tuple[str, ...]
    time: int
    tree: dict[str, bytes | Link]


def ts(iso: str) -> int:
    """Seconds since the epoch for an ISO time with an offset (``2022-02-23T13:48:02-05:00``)."""
    return int(datetime.fromisoformat(iso).timestamp())


@dataclass
class FakeRepo:
    """A tiny git repository in memory."""

    commits: dict[str, Commit] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    head: str | None = "main"
    queries: list[Any] = field(default_factory=list)
    _counter: int = 0

    # --- building -------------------------------------------------------------------------

    def commit(
        self,
        files: Tree,
        *,
        time: int | str,
        parents: tuple[str, ...] | None = None,
        branch: str | None = "main",
        hash: str | None = None,
        keep: bool = False,
    ) -> str:
        """Add a commit on ``branch`` (its parent is the branch tip unless ``parents`` given).

        Args:
            files: the tree, or with ``keep`` the changes to the parent's tree (``None``
                values delete).
            time: seconds, or an ISO time.
            hash: the full commit hash to use (default: a made-up one).
        """
        if parents is None:
            parents = (self.branches[branch],) if branch in self.branches else ()
        tree: dict[str, bytes | Link] = {}
        if keep and parents:
            tree.update(self.commits[parents[0]].tree)
        for k, v in files.items():
            if v is None:
                tree.pop(k, None)
            else:
                tree[k] = v
        if hash is None:
            self._counter += 1
            hash = hashlib.sha1(f"commit {self._counter}".encode()).hexdigest()
        assert len(hash) == 40 and hash not in self.commits
        t = ts(time) if isinstance(time, str) else time
        self.commits[hash] = Commit(hash, parents, t, tree)
        if branch is not None:
            self.branches[branch] = hash
        return hash

    def tag(self, name: str, rev: str) -> None:
        self.tags[name] = self._resolve(rev)[1]

    def branch(self, name: str, rev: str) -> None:
        self.branches[name] = self._resolve(rev)[1]

    # --- git semantics --------------------------------------------------------------------

    def _refs(self) -> dict[str, str]:
        refs = {"refs/tags/" + k: v for k, v in self.tags.items()}
        refs.update({"refs/heads/" + k: v for k, v in self.branches.items()})
        if self.head is not None and self.head in self.branches:
            refs["HEAD"] = self.branches[self.head]
        return refs

    def _resolve(self, rev: str) -> tuple[str, str] | tuple[None, None]:
        """(ref, hash) as codehost/git.go ``stat`` resolves a revision; ref may be ""."""
        refs = self._refs()
        if "refs/tags/" + rev in refs:
            return "refs/tags/" + rev, refs["refs/tags/" + rev]
        if "refs/heads/" + rev in refs:
            return "refs/heads/" + rev, refs["refs/heads/" + rev]
        if rev == "HEAD" and "HEAD" in refs:
            return "HEAD", refs["HEAD"]
        if 7 <= len(rev) <= 40 and all(c in "0123456789abcdef" for c in rev):
            matches = [h for h in self.commits if h.startswith(rev)]
            if len(matches) != 1:
                return None, None
            h = matches[0]
            named = sorted(k for k, v in refs.items() if v == h)
            return (named[0] if named else ""), h
        return None, None

    def _ancestors(self, h: str) -> set[str]:
        seen: set[str] = set()
        todo = [h]
        while todo:
            c = todo.pop()
            if c not in seen:
                seen.add(c)
                todo.extend(self.commits[c].parents)
        return seen

    def info(self, h: str, version: str, ref: str = "") -> RevInfo:
        c = self.commits[h]
        tags = tuple(sorted(k for k, v in self.tags.items() if v == h))
        return RevInfo(name=h, short=h[:12], version=version, time=c.time, tags=tags, ref=ref)

    def answer(self, query: Any) -> object:
        self.queries.append(query)
        if isinstance(query, GitTags):
            return TagList(
                tuple(sorted((k, v) for k, v in self.tags.items() if k.startswith(query.prefix)))
            )
        if isinstance(query, GitStat):
            ref, h = self._resolve(query.rev)
            if h is None:
                return None
            return self.info(h, query.rev, ref if ref != h else "")
        if isinstance(query, GitLatest):
            refs = self._refs()
            if "HEAD" not in refs:
                return None
            return self.info(refs["HEAD"], "HEAD", "HEAD")
        if isinstance(query, GitReadFile):
            _, h = self._resolve(query.rev)
            if h is None:
                return None
            data = self.commits[h].tree.get(query.path)
            if not isinstance(data, bytes):
                return None
            if len(data) > query.max_size:
                raise RepoFileError(f"{query.path} too large")
            return data
        if isinstance(query, GitMergedTags):
            _, h = self._resolve(query.rev)
            assert h is not None
            history = self._ancestors(h)
            return tuple(sorted(k for k, v in self.tags.items() if v in history))
        if isinstance(query, GitDescendsFrom):
            _, h = self._resolve(query.rev)
            assert h is not None
            tag = self.tags.get(query.tag)
            return tag is not None and tag in self._ancestors(h)
        raise AssertionError(f"unexpected query {query!r}")

    # --- archives -------------------------------------------------------------------------

    def archive(self, rev: str, subdir: str = "") -> bytes:
        """A zip like ``git archive --format=zip --prefix=prefix/ <rev> [-- <subdir>]``."""
        _, h = self._resolve(rev)
        assert h is not None
        tree = self.commits[h].tree
        names = sorted(p for p in tree if not subdir or p.startswith(subdir + "/"))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            dirs_done: set[str] = set()
            for name in names:
                parts = name.split("/")
                for i in range(len(parts)):
                    d = "/".join(parts[:i])
                    if d not in dirs_done:
                        dirs_done.add(d)
                        zi = zipfile.ZipInfo("prefix/" + (d + "/" if d else ""))
                        zi.create_system = 3
                        zi.external_attr = (0o40755 << 16) | 0x10
                        z.writestr(zi, b"")
                data = tree[name]
                zi = zipfile.ZipInfo("prefix/" + name)
                zi.create_system = 3
                if isinstance(data, Link):
                    zi.external_attr = 0o120777 << 16
                    z.writestr(zi, data.target.encode())
                else:
                    zi.external_attr = 0o100644 << 16
                    z.writestr(zi, data, compress_type=zipfile.ZIP_DEFLATED)
        return buf.getvalue()


def run(flow: Generator[Any, object, Any], repo: FakeRepo) -> Any:
    """Drive a flow with the repository's answers; a RepoFileError is thrown into the flow."""
    try:
        query = next(flow)
        while True:
            try:
                answer = repo.answer(query)
            except RepoFileError as err:
                query = flow.throw(err)
                continue
            query = flow.send(answer)
    except StopIteration as stop:
        return stop.value
