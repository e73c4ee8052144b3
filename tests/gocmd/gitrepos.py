"""Git repositories on disk for the direct-mode tests (``test_direct.py``).

Every repository is built in a work tree with ``git`` run under a fixed environment (no system
or user config, fixed author, committer and dates), then cloned bare under ``repos/`` so that
``https://git.example.test/<path>`` maps onto ``file://<root>/repos/<path>`` through a git
config file (``url.<base>.insteadOf``). The same content always gives the same commit hashes.

``build(root)`` returns a :class:`Fixture`: the git config file to hand to the go command and
to the proxy, and, for every commit label, its hash and time, so tests can spell the
pseudo-versions they expect (``fx.expand("v1.1.1-0.{feature1}")``).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

HOST = "git.example.test"
BASE = 1704067200  # 2024-01-01T00:00:00Z; commit n is BASE + n hours


@dataclass(frozen=True)
class Link:
    """A symbolic link to ``target`` in a commit's file list."""

    target: str


Files = dict[str, "str | Link | None"]  # None removes the file


@dataclass
class Commit:
    hash: str
    when: int  # seconds since the epoch

    @property
    def stamp(self) -> str:
        return datetime.fromtimestamp(self.when, UTC).strftime("%Y%m%d%H%M%S")


@dataclass
class Fixture:
    root: Path
    gitconfig: Path  # maps the host onto repos/
    offline_gitconfig: Path  # maps the host onto a directory that does not exist
    home: Path
    commits: dict[str, Commit] = field(default_factory=dict)

    def expand(self, text: str) -> str:
        """``text`` with ``{label}`` replaced by commit ``label``'s pseudo-version tail.

        ``{label}`` becomes ``yyyymmddhhmmss-abcdefabcdef`` (commit time, 12-digit hash), so
        ``v1.1.1-0.{feature1}`` spells a pseudo-version; ``{label:hash}`` is the full hash,
        ``{label:short}`` its first 12 and ``{label:h7}`` its first 7 digits.
        """

        def one(m: re.Match[str]) -> str:
            c = self.commits[m[1]]
            return {
                None: f"{c.stamp}-{c.hash[:12]}",
                "hash": c.hash,
                "short": c.hash[:12],
                "h7": c.hash[:7],
            }[m[2]]

        return re.sub(r"\{(\w+)(?::(\w+))?\}", one, text)


def git_env(home: Path, gitconfig: Path, when: int | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C",
        "LC_ALL": "C",
        "TZ": "UTC",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_AUTHOR_NAME": "Fixture Author",
        "GIT_AUTHOR_EMAIL": "author@example.test",
        "GIT_COMMITTER_NAME": "Fixture Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.test",
        "GIT_TERMINAL_PROMPT": "0",
    }
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{when} +0000"
    return env


class Builder:
    """One repository under construction in a work tree."""

    def __init__(self, fx: Fixture, name: str) -> None:
        self.fx = fx
        self.name = name  # path under the host, e.g. "team/repo.git"
        self.work = fx.root / "work" / name
        self.work.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, when: int | None = None) -> str:
        r = subprocess.run(
            ["git", *args],
            cwd=self.work,
            env=git_env(self.fx.home, self.fx.gitconfig, when),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if r.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} in {self.work}: {r.stderr}")
        return r.stdout.strip()

    def _tick(self) -> int:
        return BASE + 3600 * (len(self.fx.commits) + 1)

    def commit(self, label: str, files: Files, *, tags: tuple[str, ...] = ()) -> str:
        """Write ``files`` (relative paths) over the work tree, commit, tag (``tags``).

        A tag named ``a:NAME`` is annotated, others lightweight.
        """
        assert label not in self.fx.commits, label
        for rel, content in files.items():
            p = self.work / rel
            if p.is_symlink() or p.exists():
                p.unlink()
            if content is None:
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Link):
                os.symlink(content.target, p)
            else:
                p.write_bytes(content.encode())
        when = self._tick()
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", f"{self.name}: {label}", when=when)
        h = self.git("rev-parse", "HEAD")
        self.fx.commits[label] = Commit(h, when)
        for t in tags:
            self.tag(t)
        return h

    def tag(self, name: str, rev: str = "HEAD") -> None:
        if name.startswith("a:"):
            name = name[2:]
            self.git("tag", "-a", "-m", f"release {name}", name, rev, when=self._tick())
        else:
            self.git("tag", name, rev)

    def branch(self, name: str, start: str) -> None:
        """Check out a new branch ``name`` at commit label or ref ``start``."""
        rev = self.fx.commits[start].hash if start in self.fx.commits else start
        self.git("checkout", "-q", "-b", name, rev)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)

    def publish(self) -> None:
        """Clone the work tree bare into ``repos/<name>`` (the default branch is main)."""
        self.checkout("main")
        dest = self.fx.root / "repos" / self.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.git("clone", "-q", "--bare", "--no-local", str(self.work), str(dest))


def mod(name: str) -> str:
    return f"{HOST}/{name}"


def gomod(path: str, go: str | None = "1.21", extra: str = "") -> str:
    text = f"module {mod(path)}\n"
    if go is not None:
        text += f"\ngo {go}\n"
    return text + extra


LICENSE = "Fixture license: do what you like.\n"


def _gitconfig(repos: Path) -> str:
    """Every URL scheme the go command may try for the host leads into ``repos``; ssh is off.

    Only ``https`` is needed; the others (tried when a repository does not answer) are
    mapped too so that nothing ever leaves the machine.
    """
    lines = [f'[url "{repos.as_uri()}/"]']
    lines += [f"\tinsteadOf = {s}://{HOST}/" for s in ("https", "http", "git", "git+ssh", "ssh")]
    lines += ['[protocol "file"]', "\tallow = always", "[core]", "\tsshCommand = false"]
    return "\n".join(lines) + "\n"


def build(root: Path) -> Fixture:
    home = root / "home"
    home.mkdir(parents=True)
    gitconfig = root / "gitconfig"
    gitconfig.write_text(_gitconfig(root / "repos"))
    offline = root / "gitconfig-offline"
    offline.write_text(_gitconfig(root / "nowhere"))
    fx = Fixture(root=root, gitconfig=gitconfig, offline_gitconfig=offline, home=home)

    # team/repo.git: releases, a prerelease, ignored tags (v1.3, v1.0.1+build), a branch
    # after a release (form 2), main after a prerelease (form 3), the sub module (sub/ tags,
    # LICENSE from the root), a nested module, symlinks, .hg_archival.txt at both module
    # roots, a directory with a GO.MOD (left out like a nested module).
    b = Builder(fx, "team/repo.git")
    b.commit(
        "repo1",
        {
            "go.mod": gomod("team/repo.git"),
            "a.go": "package repo\n\nconst V = 1\n",
            "LICENSE": LICENSE,
            "README.md": "# repo\n",
            "link.go": Link("a.go"),
            ".hg_archival.txt": "repo: 0123456789abcdef\n",
            "nested/go.mod": gomod("team/repo.git/nested"),
            "nested/n.go": "package nested\n",
            "weird/GO.MOD": "module whatever\n",
            "weird/w.go": "package weird\n",
            "internal/x/x.go": "package x\n",
            "sub/go.mod": gomod("team/repo.git/sub", "1.20"),
            "sub/s.go": "package sub\n\nconst S = 1\n",
            "sub/link.txt": Link("../LICENSE"),
            "sub/.hg_archival.txt": "dropped: at the root of the sub module's zip\n",
        },
        tags=("a:v1.0.0", "sub/v1.0.0"),
    )
    b.commit("repo2", {"a.go": "package repo\n\nconst V = 2\n"}, tags=("v1.1.0", "a:sub/v1.1.0"))
    b.commit("repo3", {"a.go": "package repo\n\nconst V = 3\n"}, tags=("v1.2.0-pre",))
    b.commit("repo4", {"a.go": "package repo\n\nconst V = 4\n"}, tags=("v1.3",))
    b.commit("repo5", {"sub/s.go": "package sub\n\nconst S = 5\n"})
    b.branch("feature", "repo2")
    b.commit("feature1", {"feature.go": "package repo\n\nconst F = 1\n"})
    # Alone on its branch: on a commit that also had a higher ancestor tag, the go command's
    # pseudo-version would depend on how much history its cache happened to hold.
    b.branch("build", "repo1")
    b.commit("build1", {"build.go": "package repo\n"}, tags=("v1.0.1+build",))
    b.publish()

    # team/repo2.git: /v2 in a v2/ subdirectory next to a v1 module at the root.
    b = Builder(fx, "team/repo2.git")
    b.commit(
        "r2a",
        {"go.mod": gomod("team/repo2.git"), "a.go": "package a\n", "LICENSE": LICENSE},
        tags=("v1.0.0",),
    )
    b.commit(
        "r2b",
        {"v2/go.mod": gomod("team/repo2.git/v2"), "v2/a.go": "package a\n\nconst V = 2\n"},
        tags=("v2.0.0",),
    )
    b.commit("r2c", {"v2/a.go": "package a\n\nconst V = 21\n"}, tags=("a:v2.1.0",))
    b.commit("r2d", {"v2/a.go": "package a\n\nconst V = 22\n"})
    b.publish()

    # team/repo3.git: /v2 on a major branch: the root go.mod says .../repo3.git/v2.
    b = Builder(fx, "team/repo3.git")
    b.commit("r3a", {"go.mod": gomod("team/repo3.git"), "a.go": "package a\n"}, tags=("v1.0.0",))
    b.branch("v2", "r3a")
    b.commit("r3b", {"go.mod": gomod("team/repo3.git/v2")}, tags=("v2.0.0",))
    b.commit("r3c", {"a.go": "package a\n\nconst V = 21\n"}, tags=("v2.1.0",))
    b.commit("r3d", {"a.go": "package a\n\nconst V = 22\n"})
    b.publish()

    # team/incompat.git: never a go.mod; v2+ tags are +incompatible.
    b = Builder(fx, "team/incompat.git")
    b.commit("inc1", {"a.go": "package a\n"}, tags=("v1.0.0",))
    b.commit("inc2", {"a.go": "package a\n\nconst V = 2\n"}, tags=("v2.0.0",))
    b.commit("inc3", {"a.go": "package a\n\nconst V = 3\n"}, tags=("v3.0.0-rc.1", "v3.0.0"))
    b.branch("dev", "inc2")
    b.commit("inc4", {"b.go": "package a\n"})
    b.publish()

    # team/incompat2.git: the latest v1 has a go.mod, so v2.0.0+incompatible leaves the list.
    b = Builder(fx, "team/incompat2.git")
    b.commit("inb1", {"a.go": "package a\n"}, tags=("v1.0.0",))
    b.commit("inb2", {"a.go": "package a\n\nconst V = 2\n"}, tags=("v2.0.0",))
    b.commit("inb3", {"go.mod": gomod("team/incompat2.git")}, tags=("v1.1.0",))
    b.publish()

    # team/retract.git: the latest version retracts an earlier one and itself.
    b = Builder(fx, "team/retract.git")
    b.commit("ret1", {"go.mod": gomod("team/retract.git"), "a.go": "package a\n"}, tags=("v1.0.0",))
    b.commit("ret2", {"a.go": "package a\n\nconst V = 1\n"}, tags=("v1.0.1",))
    b.commit(
        "ret3",
        {
            "go.mod": gomod(
                "team/retract.git",
                extra="\nretract v1.0.1 // broken\n\nretract v1.1.0 // retracts itself\n",
            )
        },
        tags=("v1.1.0",),
    )
    b.branch("dev", "ret3")
    b.commit("ret4", {"b.go": "package a\n"})
    b.publish()

    # team/nogomod.git: a module without a go.mod.
    b = Builder(fx, "team/nogomod.git")
    b.commit(
        "ngm1",
        {"a.go": "package a\n", "pkg/p.go": "package pkg\n", "LICENSE": LICENSE},
        tags=("v1.0.0",),
    )
    b.commit("ngm2", {"a.go": "package a\n\nconst V = 2\n"}, tags=("v1.1.0",))
    b.publish()

    # team/notags.git: no tags at all (form 1 pseudo-versions).
    b = Builder(fx, "team/notags.git")
    b.commit("nt1", {"go.mod": gomod("team/notags.git"), "a.go": "package a\n"})
    b.commit("nt2", {"a.go": "package a\n\nconst V = 2\n"})
    b.branch("side", "nt1")
    b.commit("nt3", {"side.go": "package a\n"})
    b.publish()

    # team/vendor.git: vendor directories under go 1.21, go 1.24 and no go directive.
    vendored = {
        "a.go": "package a\n",
        "vendor/modules.txt": "# example.test/dep v1.0.0\n## explicit\nexample.test/dep\n",
        "vendor/example.test/dep/d.go": "package dep\n",
        "vendor/example.test/dep/sub/x.go": "package sub\n",
        "pkg/vendor/vendor.go": "package vendor\n",
        "pkg/vendor/foo/foo.go": "package foo\n",
    }
    b = Builder(fx, "team/vendor.git")
    b.commit("ven1", {"go.mod": gomod("team/vendor.git", "1.21"), **vendored}, tags=("v1.0.0",))
    b.commit("ven2", {"go.mod": gomod("team/vendor.git", "1.24")}, tags=("v1.1.0",))
    b.commit("ven3", {"go.mod": gomod("team/vendor.git", None)}, tags=("v1.2.0",))
    b.publish()

    # Team/Upper.git: upper case in the module path, a prerelease and a branch.
    b = Builder(fx, "Team/Upper.git")
    b.commit("up1", {"go.mod": gomod("Team/Upper.git"), "a.go": "package a\n"}, tags=("v1.0.0",))
    b.commit("up2", {"a.go": "package a\n\nconst V = 2\n"}, tags=("v1.1.0-RC1",))
    b.branch("Dev", "up2")
    b.commit("up3", {"b.go": "package a\n"})
    b.publish()

    # team/attrs.git: .gitattributes that the go command switches off (export-ignore,
    # export-subst) or that still apply (eol=crlf).
    b = Builder(fx, "team/attrs.git")
    b.commit(
        "att1",
        {
            "go.mod": gomod("team/attrs.git"),
            ".gitattributes": "ignored.txt export-ignore\nsubst.txt export-subst\n"
            "*.crlf text eol=crlf\n",
            "ignored.txt": "still in the zip\n",
            "subst.txt": "commit $Format:%H$\n",
            "lines.crlf": "one\ntwo\n",
        },
        tags=("v1.0.0",),
    )
    b.publish()

    # team/wrongpath.git: the go.mod at v1.0.0 names another module; v1.1.0 (the latest)
    # deprecates the module.
    b = Builder(fx, "team/wrongpath.git")
    b.commit(
        "wp1",
        {"go.mod": "module example.test/elsewhere\n", "a.go": "package a\n"},
        tags=("v1.0.0",),
    )
    deprecated = "// Deprecated: use git.example.test/team/repo.git instead.\n"
    b.commit("wp2", {"go.mod": deprecated + gomod("team/wrongpath.git")}, tags=("v1.1.0",))
    b.publish()
    return fx
