"""Direct mode: answering one upstream request from the module's version control repository.

When the upstream walk of :mod:`goproxy_core.proxy.engine` reaches a ``direct`` entry
(``direct`` in the upstream list, or a module matching the private patterns), it yields
``FetchDirect(module, file)`` where it would fetch from an upstream proxy, and checks and
caches the answer the same way. The caller answers such a fetch by running
:func:`direct_flow`: a generator that yields

* :class:`~.vcs.DiscoveryGet` and :class:`~.vcs.ProbeRepo` while it finds the repository
  (golang/go ``cmd/go/internal/vcs``),
* then :class:`OpenRepo` once, naming the repository the following queries are about,
* then the repository queries of :mod:`.codehost` (golang/go ``modfetch/coderepo.go``),

and returns a :class:`DirectBody` (list, ``.info``, ``.mod``, ``@latest``) or, for a zip, a
:class:`DirectZip` plan the caller turns into the zip with :func:`~.coderepo.zip_from_archive`
from ``git archive`` output. Module and version errors raise
:class:`~goproxy_core.errors.ProxyError` subclasses; the upstream's answer is their text with
the status :func:`goproxy_core.proxy.error_status` gives them (404 for a module or version
that is not there, as a proxy would say).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import msgspec

from ..errors import ProxyError
from ..module.paths import PrefixPatterns, check_path
from .codehost import CodeQuery
from .coderepo import CodeRepo, ZipPlan
from .vcs import RepoRoot, ResolveQuery, require_git, resolve_repo

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = [
    "DirectBody",
    "DirectError",
    "DirectQuery",
    "DirectZip",
    "OpenRepo",
    "direct_flow",
]

_CT_TEXT = "text/plain; charset=utf-8"
_CT_JSON = "application/json"


class DirectError(ProxyError):
    """A direct-mode request the core cannot answer (not one of the protocol's files)."""


class OpenRepo(msgspec.Struct, frozen=True):
    """The repository the following code queries are about. Answer: None.

    The caller makes (or reuses) its local mirror of ``root.url`` and answers every later
    query of the flow from it.
    """

    root: RepoRoot


class DirectBody(msgspec.Struct, frozen=True):
    """A complete answer: its body and content type."""

    body: bytes
    content_type: str


class DirectZip(msgspec.Struct, frozen=True):
    """The zip of ``module@version`` is to be built from ``plan`` (see ``zip_from_archive``)."""

    module: str
    version: str
    plan: ZipPlan


DirectQuery: TypeAlias = ResolveQuery | OpenRepo | CodeQuery
"""Everything :func:`direct_flow` may yield."""


def _split_query(file: str) -> tuple[str, str]:
    for suffix in (".info", ".mod", ".zip"):
        if file.endswith(suffix) and len(file) > len(suffix):
            return file[: -len(suffix)], suffix
    raise DirectError(f"not a proxy protocol file: {file}")


def direct_flow(
    module: str, file: str, insecure: PrefixPatterns | None = None
) -> Generator[DirectQuery, object, DirectBody | DirectZip]:
    """Answer the direct-mode fetch of ``file`` of ``module`` from version control.

    See the module docs for what it yields and returns.

    Args:
        module: the module path.
        file: ``"list"``, ``"latest"``, or a version or query with its suffix, unescaped
            (``"v1.2.3.info"``, ``"main.info"``, ``"v1.2.3.mod"``, ``"v1.2.3.zip"``), as in
            ``FetchDirect``.
        insecure: GOINSECURE-style patterns: modules whose repositories may be found and
            fetched over plain HTTP.

    Raises:
        ProxyError: the module or version does not exist, or breaks Go's rules; the
            answer is the exception's text, with ``error_status(e)`` as its status.
    """
    check_path(module)
    if file not in ("list", "latest"):
        _split_query(file)  # refuse what is not a protocol file before any network work
    root = yield from resolve_repo(module, insecure or PrefixPatterns(""))
    require_git(root)
    yield OpenRepo(root)
    repo = CodeRepo(module, root.root, root.url, root.vcs, subdir=root.subdir)
    if file == "list":
        versions = yield from repo.versions("")
        body = "".join(v + "\n" for v in versions).encode()
        return DirectBody(body, _CT_TEXT)
    if file == "latest":
        info = yield from repo.latest()
        return DirectBody(info.info_json(), _CT_JSON)
    query, suffix = _split_query(file)
    if suffix == ".info":
        info = yield from repo.stat(query)
        return DirectBody(info.info_json(), _CT_JSON)
    if suffix == ".mod":
        data = yield from repo.go_mod(query)
        return DirectBody(data, _CT_TEXT)
    plan = yield from repo.zip_plan(query)
    return DirectZip(module, query, plan)
