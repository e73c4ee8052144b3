"""Carrying out direct-mode fetches: the core's version-control queries answered with ``git``.

The core decides everything (:func:`goproxy_core.direct_flow`); this module only runs the
``git`` program and HTTP discovery for it, the way the go command's own ``codehost`` layer
does (golang/go ``src/cmd/go/internal/modfetch/codehost/git.go``):

* one bare mirror per repository URL under ``vcs_dir``, shared by all its modules and
  versions and by every process using that directory (a lock file serialises fetches);
* the remote's refs from ``git ls-remote`` (remembered for ``refs_ttl`` seconds), a single
  ref fetched when a tag or branch is asked for, every head and tag only when history is
  needed (pseudo-version bases, hashes no ref points at);
* ``git`` runs with the user's own configuration (credential helpers, ``insteadOf``
  rewrites, SSH setup) but never prompts: ``GIT_TERMINAL_PROMPT=0``, SSH in batch mode, no
  standard input. Every command has a timeout (its whole process group is killed), and at
  most ``jobs`` commands run at once.

A failure to reach a repository is the upstream failing (status 0: the client gets a 502,
or a 504 after a timeout, naming the reason); a module or version that does not exist is a
404 with the core's text.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from goproxy_core import PrefixPatterns, ProxyError, UpstreamResult, error_status
from goproxy_core.direct import (
    DirectBody,
    DirectZip,
    DiscoveryGet,
    DiscoveryResult,
    GitDescendsFrom,
    GitLatest,
    GitMergedTags,
    GitReadFile,
    GitStat,
    GitTags,
    OpenRepo,
    ProbeRepo,
    RepoFileError,
    RevInfo,
    TagList,
    direct_flow,
    zip_from_archive,
)

from .vcs_settings import VCSSettings

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from goproxy_core import FetchDirect
    from goproxy_core.storage import BlobStore, BlobWriter

__all__ = ["DirectSource", "GitError", "VCSSettings"]

_CHUNK = 256 * 1024
_DISCOVERY_MAX = 1 << 20
_MIN_HASH_DIGITS = 7
_HEX = re.compile(r"^[0-9a-f]+$")
_AUTH_HINTS = (
    "could not read Username",
    "could not read Password",
    "Authentication failed",
    "Permission denied (publickey",
    "terminal prompts disabled",
    "HTTP Basic: Access denied",
    "returned error: 401",
    "returned error: 403",
)
_NOT_FOUND_HINTS = (
    "Repository not found",
    "does not appear to be a git repository",
    "returned error: 404",
    "not found",
)


class GitError(Exception):
    """A git command failed or timed out; the message says which and why, in git's words."""

    def __init__(self, message: str, *, timeout: bool = False, stderr: str = "") -> None:
        super().__init__(message)
        self.timeout = timeout
        self.stderr = stderr

    @property
    def auth(self) -> bool:
        """Whether git asked for credentials it did not have."""
        return any(h in self.stderr for h in _AUTH_HINTS)

    @property
    def not_found(self) -> bool:
        """Whether the repository does not exist."""
        return not self.auth and any(h in self.stderr for h in _NOT_FOUND_HINTS)


def _git_env(extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GCM_INTERACTIVE"] = "never"
    if "GIT_SSH" not in env and "GIT_SSH_COMMAND" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o ControlMaster=no -o BatchMode=yes"
    # The proxy's own client-side Go settings mean nothing to git; keep git's output stable.
    env["LC_ALL"] = "C"
    return env


class _Runner:
    """Runs git with a timeout and a concurrency limit."""

    def __init__(self, settings: VCSSettings) -> None:
        self.settings = settings
        self.env = _git_env(settings.env)
        self.slots = threading.BoundedSemaphore(settings.jobs)

    def run(
        self,
        args: Sequence[str],
        cwd: Path | None = None,
        *,
        stdout: Any = subprocess.PIPE,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = [self.settings.git, *args]
        deadline = time.monotonic() + self.settings.timeout
        if not self.slots.acquire(timeout=self.settings.timeout):
            raise GitError(f"git {args[0]}: too many git commands running; gave up", timeout=True)
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            try:
                out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise GitError(
                    f"git {args[0]} timed out after {self.settings.timeout:g}s", timeout=True
                ) from None
        finally:
            self.slots.release()
        if check and proc.returncode != 0:
            text = (err or b"").decode("utf-8", "replace").strip()
            raise GitError(f"git {' '.join(args[:2])}: {_last_lines(text)}", stderr=text)
        return subprocess.CompletedProcess(cmd, proc.returncode, out or b"", err or b"")


def _last_lines(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return " ".join(lines[-3:]) if lines else "failed"


class _Mirror:
    """One bare mirror of a remote repository (codehost ``gitRepo``)."""

    def __init__(self, runner: _Runner, root: Path, url: str) -> None:
        self.runner = runner
        self.url = url
        digest = hashlib.sha256(url.encode()).hexdigest()[:32]
        self.dir = root / digest
        self.lock_path = root / (digest + ".lock")
        self.mu = threading.Lock()
        self.refs: dict[str, str] | None = None
        self.refs_at = 0.0
        self.fetched_all_for: dict[str, str] | None = None

    # -- setup and locking -----------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """This mirror, for this thread and process alone."""
        with self.mu:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.lock_path, "a+b") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return self.runner.run(list(args), cwd=self.dir, check=check)

    def ensure(self) -> None:
        """Create the bare mirror if this is its first use."""
        if (self.dir / "objects").is_dir():
            return
        with self.locked():
            if (self.dir / "objects").is_dir():
                return
            tmp = Path(tempfile.mkdtemp(prefix=".init-", dir=self.dir.parent))
            try:
                self.runner.run(["init", "--bare", "--quiet", str(tmp)])
                self.runner.run(["remote", "add", "origin", "--", self.url], cwd=tmp)
                # As the go command does: archives are the tree as committed.
                (tmp / "info").mkdir(exist_ok=True)
                (tmp / "info" / "attributes").write_text("\n* -export-subst -export-ignore\n")
                os.replace(tmp, self.dir)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    # -- remote refs ---------------------------------------------------------------------

    def load_refs(self) -> dict[str, str]:
        """The remote's HEAD, heads and tags (annotated tags peeled to their commit)."""
        now = time.monotonic()
        if self.refs is not None and now - self.refs_at < self.runner.settings.refs_ttl:
            return self.refs
        out = self.git("ls-remote", "-q", "origin").stdout.decode("utf-8", "replace")
        refs: dict[str, str] = {}
        peeled: dict[str, str] = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) != 2:
                continue
            h, name = f
            if name.endswith("^{}"):
                peeled[name[:-3]] = h
            elif name == "HEAD" or name.startswith(("refs/heads/", "refs/tags/")):
                refs[name] = h
        refs.update((k, v) for k, v in peeled.items() if k in refs)
        self.refs, self.refs_at = refs, now
        return refs

    # -- fetching --------------------------------------------------------------------------

    def has_commit(self, rev: str) -> bool:
        return self.git("cat-file", "-e", f"{rev}^{{commit}}", check=False).returncode == 0

    def fetch_ref(self, ref: str, hash_: str) -> None:
        """Make commit ``hash_`` (the tip of ``ref``) and its history local."""
        if self.has_commit(hash_):
            return
        with self.locked():
            if self.has_commit(hash_):
                return
            spec = f"{hash_}:refs/dummy" if ref == "HEAD" else f"+{ref}:{ref}"
            if self.git("fetch", "-q", "-f", "origin", spec, check=False).returncode != 0:
                self._fetch_all_locked()

    def fetch_all(self) -> None:
        """Every head and tag of the remote, with their history."""
        refs = self.load_refs()
        if self.fetched_all_for == refs:
            return
        with self.locked():
            self._fetch_all_locked()

    def _fetch_all_locked(self) -> None:
        refs = self.load_refs()
        self.git(
            "fetch", "-q", "-f", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"
        )
        self.fetched_all_for = refs

    # -- queries ---------------------------------------------------------------------------

    def tags(self, prefix: str) -> TagList:
        refs = self.load_refs()
        found = sorted(
            (name[len("refs/tags/") :], h)
            for name, h in refs.items()
            if name.startswith("refs/tags/" + prefix)
        )
        return TagList(tuple(found))

    def stat(self, rev: str) -> RevInfo | None:
        """Resolve ``rev`` like codehost's ``stat``: tag, branch, HEAD, or hash (prefix)."""
        refs = self.load_refs()
        ref = hash_ = ""
        if f"refs/tags/{rev}" in refs:
            ref = f"refs/tags/{rev}"
            hash_ = refs[ref]
        elif f"refs/heads/{rev}" in refs:
            ref = f"refs/heads/{rev}"
            hash_ = refs[ref]
        elif rev == "HEAD" and "HEAD" in refs:
            ref, hash_ = "HEAD", refs["HEAD"]
        elif _MIN_HASH_DIGITS <= len(rev) <= 40 and _HEX.match(rev):
            for name, h in sorted(refs.items()):
                if h.startswith(rev):
                    if hash_ and hash_ != h:
                        raise RepoFileError(f"ambiguous revision {rev}")
                    if not ref:
                        ref = name
                    hash_ = h
        else:
            return None
        if ref and hash_:
            self.fetch_ref(ref, hash_)
        else:
            # A hash no ref points at: it must be in the history of a head or tag.
            self.fetch_all()
        return self.stat_local(rev, hash_ or rev, ref)

    def stat_local(self, rev: str, commit: str, ref: str) -> RevInfo | None:
        r = self.git(
            "-c",
            "log.showsignature=false",
            "log",
            "--no-decorate",
            "-n1",
            "--format=format:%H %ct",
            "--end-of-options",
            f"{commit}^{{commit}}",
            "--",
            check=False,
        )
        fields = r.stdout.decode().split()
        if r.returncode != 0 or len(fields) != 2:
            return None
        full, when = fields
        refs = self.load_refs()
        tags = sorted(
            {
                n[len("refs/tags/") :]
                for n, h in refs.items()
                if h == full and n.startswith("refs/tags/")
            }
        )
        version = rev if rev in tags else full
        if ref == full:
            ref = ""
        return RevInfo(
            name=full, short=full[:12], version=version, time=int(when), tags=tuple(tags), ref=ref
        )

    def latest(self) -> RevInfo | None:
        refs = self.load_refs()
        head = refs.get("HEAD")
        if not head:
            return None
        info = self.stat(head)
        if info is None:
            return None
        return RevInfo(
            name=info.name,
            short=info.short,
            version=info.version,
            time=info.time,
            tags=info.tags,
            ref="HEAD",
        )

    def read_file(self, rev: str, path: str, max_size: int) -> bytes | None:
        # As codehost does: the revision (a tag, say) is resolved and fetched first.
        info = self.stat(rev)
        if info is None:
            return None
        spec = f"{info.name}:{path}"
        r = self.git("cat-file", "-s", "--end-of-options", spec, check=False)
        if r.returncode != 0:
            return None
        kind = self.git("cat-file", "-t", "--end-of-options", spec, check=False)
        if kind.stdout.strip() != b"blob":
            return None
        if int(r.stdout.strip() or b"0") > max_size:
            raise RepoFileError(f"{path} at revision {rev[:12]} is larger than {max_size} bytes")
        return self.git("cat-file", "blob", "--end-of-options", spec).stdout

    def merged_tags(self, rev: str) -> tuple[str, ...]:
        self.fetch_all()
        out = self.git("for-each-ref", "--format=%(refname)", f"--merged={rev}", "refs/tags/")
        names = out.stdout.decode("utf-8", "replace").split()
        return tuple(n[len("refs/tags/") :] for n in names if n.startswith("refs/tags/"))

    def descends_from(self, rev: str, tag: str) -> bool:
        def check() -> int:
            return self.git(
                "merge-base", "--is-ancestor", "--", f"refs/tags/{tag}", rev, check=False
            ).returncode

        if check() == 0:
            return True
        if not self.tags(tag).tags:
            return False
        self.fetch_all()
        return check() == 0

    def archive(self, rev: str, subdir: str, out: Path) -> bool:
        """``git archive`` of ``rev`` (only ``subdir`` if set) into ``out``; False if empty."""
        args = [
            "-c",
            "core.autocrlf=input",
            "-c",
            "core.eol=lf",
            "archive",
            "--format=zip",
            "--prefix=prefix/",
            "--end-of-options",
            rev,
        ]
        if subdir:
            args.append(subdir)
        with open(out, "wb") as f:
            r = self.runner.run(args, cwd=self.dir, stdout=f, check=False)
        if r.returncode != 0:
            err = r.stderr.decode("utf-8", "replace")
            if "did not match any files" in err:
                return False
            raise GitError(f"git archive: {_last_lines(err)}", stderr=err)
        return True


class DirectSource:
    """Answers ``FetchDirect`` effects from git repositories (synchronously).

    Async servers call :meth:`fetch` through their thread offload.
    """

    def __init__(
        self,
        settings: VCSSettings,
        client: httpx.Client | None = None,
        *,
        auth: httpx.Auth | None = None,
        user_agent: str = "goproxy-core",
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.user_agent = user_agent
        self.insecure = PrefixPatterns(settings.insecure)
        self.runner = _Runner(settings)
        self._client = client
        self._insecure_client: httpx.Client | None = None
        self._mirrors: dict[str, _Mirror] = {}
        self._mirrors_mu = threading.Lock()
        self._discovered: dict[str, tuple[float, DiscoveryResult]] = {}
        self._probed: dict[str, tuple[float, bool]] = {}

    def close(self) -> None:
        """Close the discovery clients."""
        for c in (self._client, self._insecure_client):
            if c is not None:
                c.close()

    def fetch(
        self, effect: FetchDirect, store: BlobStore
    ) -> tuple[UpstreamResult, BlobWriter | None]:
        """Carry out ``effect``: run the core's direct flow, answering its queries."""
        mirror: _Mirror | None = None
        probe_errors: list[GitError] = []
        flow = direct_flow(effect.module, effect.file, self.insecure)
        answer: object = None
        thrown: RepoFileError | None = None
        try:
            while True:
                if thrown is not None:
                    query, thrown = flow.throw(thrown), None
                else:
                    query = flow.send(answer)
                if isinstance(query, OpenRepo):
                    mirror = self._mirror(query.root.url)
                    mirror.ensure()
                    answer = None
                elif isinstance(query, DiscoveryGet):
                    answer = self._discover(query.url, insecure=query.insecure)
                elif isinstance(query, ProbeRepo):
                    answer = self._probe(query.url, probe_errors)
                else:
                    assert mirror is not None, "a code query before OpenRepo"
                    try:
                        answer = _answer(mirror, query)
                    except RepoFileError as e:
                        thrown = e  # the flow decides whether that matters
        except StopIteration as stop:
            done: DirectBody | DirectZip = stop.value
        except ProxyError as e:
            # No repository answered the probes: say why if git said more than "no".
            failed = next((g for g in probe_errors if g.auth or g.timeout), None)
            if mirror is None and failed is not None:
                return _git_failure(failed, None), None
            return _text(error_status(e), str(e)), None
        except GitError as e:
            return _git_failure(e, mirror), None
        finally:
            flow.close()
        if isinstance(done, DirectBody):
            if len(done.body) > effect.max_size:
                return UpstreamResult(status=0, error="answer too large"), None
            return UpstreamResult(status=200, body=done.body, content_type=done.content_type), None
        assert mirror is not None
        try:
            return self._zip(mirror, done, effect, store)
        except ProxyError as e:
            return _text(error_status(e), str(e)), None
        except GitError as e:
            return _git_failure(e, mirror), None

    # -- zips ------------------------------------------------------------------------------

    def _zip(
        self, mirror: _Mirror, plan: DirectZip, effect: FetchDirect, store: BlobStore
    ) -> tuple[UpstreamResult, BlobWriter | None]:
        tmpdir = self.settings.vcs_dir / ".tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tmpdir) as d:
            archive, built = Path(d) / "archive.zip", Path(d) / "module.zip"
            if not mirror.archive(plan.plan.rev, plan.plan.subdir, archive):
                archive.unlink()
                _empty_zip(archive)
            with open(archive, "rb") as a, open(built, "wb") as out:
                zip_from_archive(plan.module, plan.version, plan.plan, a, out)
            size = built.stat().st_size
            if size > effect.max_size:
                return UpstreamResult(status=0, error="zip too large"), None
            if effect.into is None:
                return UpstreamResult(status=200, body=built.read_bytes()), None
            writer = store.writer(effect.into)
            try:
                with open(built, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        writer.write(chunk)
            except BaseException:
                writer.abort()
                raise
            return UpstreamResult(status=200), writer

    # -- resolution --------------------------------------------------------------------------

    def _mirror(self, url: str) -> _Mirror:
        with self._mirrors_mu:
            m = self._mirrors.get(url)
            if m is None:
                m = self._mirrors[url] = _Mirror(self.runner, self.settings.vcs_dir, url)
            return m

    def _http(self, *, verify: bool) -> httpx.Client:
        client = self._client if verify else self._insecure_client
        if client is None:
            client = httpx.Client(
                timeout=self.settings.timeout,
                follow_redirects=True,
                auth=self.auth,
                headers={"User-Agent": self.user_agent},
                verify=verify,
            )
            if verify:
                self._client = client
            else:
                self._insecure_client = client
        return client

    def _discover(self, url: str, *, insecure: bool = False) -> DiscoveryResult:
        """GET a ``?go-get=1`` page (``insecure``: without checking the TLS certificate)."""
        now = time.monotonic()
        hit = self._discovered.get(url)
        if hit is not None and now - hit[0] < self.settings.refs_ttl * 10:
            return hit[1]
        try:
            with self._http(verify=not insecure).stream("GET", url) as r:
                if url.startswith("https:") and r.url.scheme != "https" and not insecure:
                    # As the go command: a secure lookup never ends on plain HTTP.
                    return DiscoveryResult(status=0, error=f"{url} redirected to {r.url}")
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) >= _DISCOVERY_MAX:
                        break
                result = DiscoveryResult(status=r.status_code, body=bytes(body[:_DISCOVERY_MAX]))
        except httpx.HTTPError as e:
            return DiscoveryResult(status=0, error=str(e) or type(e).__name__)
        self._discovered[url] = (now, result)
        return result

    def _probe(self, url: str, errors: list[GitError]) -> bool:
        """Whether ``git ls-remote`` reaches ``url`` (successes are remembered a while)."""
        now = time.monotonic()
        hit = self._probed.get(url)
        if hit is not None and now - hit[0] < self.settings.refs_ttl * 10:
            return True
        try:
            self.runner.run(["ls-remote", "-q", "--", url, "HEAD"])
        except GitError as e:
            errors.append(e)
            return False
        self._probed[url] = (now, True)
        return True


def _answer(mirror: _Mirror, query: object) -> object:
    if isinstance(query, GitTags):
        return mirror.tags(query.prefix)
    if isinstance(query, GitStat):
        return mirror.stat(query.rev)
    if isinstance(query, GitLatest):
        return mirror.latest()
    if isinstance(query, GitReadFile):
        return mirror.read_file(query.rev, query.path, query.max_size)
    if isinstance(query, GitMergedTags):
        return mirror.merged_tags(query.rev)
    if isinstance(query, GitDescendsFrom):
        return mirror.descends_from(query.rev, query.tag)
    raise TypeError(f"unknown query {query!r}")


def _text(status: int, message: str) -> UpstreamResult:
    return UpstreamResult(
        status=status, body=(message + "\n").encode(), content_type="text/plain; charset=utf-8"
    )


def _git_failure(e: GitError, mirror: _Mirror | None) -> UpstreamResult:
    where = f" ({mirror.url})" if mirror is not None else ""
    if e.auth:
        return UpstreamResult(
            status=0,
            error=f"repository{where} needs credentials git does not have "
            f"(configure a credential helper, .netrc or SSH key for the server): {e}",
        )
    if e.not_found:
        return _text(404, f"not found: repository{where} does not exist: {e}")
    return UpstreamResult(status=0, error=f"{e}{where}", timeout=e.timeout)


def _empty_zip(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w"):
        pass
