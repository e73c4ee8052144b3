"""Direct mode: answering one upstream request from the module's version control repository.

When the upstream walk of :mod:`goproxy_core.proxy.engine` reaches a ``direct`` entry
(``direct`` in the upstream list, or a module matching the private patterns), it yields
``FetchUpstream(url="direct:<escaped module>/@v/<file>")`` (or ``.../@latest``) like any
other upstream fetch, and checks and caches the answer the same way. The caller answers such
a fetch by running :func:`direct_flow`: a generator that yields

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
from ..module.escape import unescape_path, unescape_version
from ..module.paths import PrefixPatterns, check_path
from ..proxy.proxylist import DIRECT_PREFIX
from .codehost import CodeQuery
from .coderepo import CodeRepo, ZipPlan
from .vcs import RepoRoot, ResolveQuery, require_git, resolve_repo

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = [
    "DIRECT_PREFIX",
    "DirectBody",
    "DirectError",
    "DirectQuery",
    "DirectRequest",
    "DirectZip",
    "OpenRepo",
    "direct_flow",
    "parse_direct_url",
]

_CT_TEXT = "text/plain; charset=utf-8"
_CT_JSON = "application/json"


class DirectError(ProxyError):
    """A direct-mode request the core cannot answer (not one of the protocol's files)."""


class DirectRequest(msgspec.Struct, frozen=True):
    """A direct-mode fetch, decoded.

    Attributes:
        module: the module path (unescaped).
        file: ``"list"``, ``"latest"``, or the query with its suffix: ``"v1.2.3.info"``,
            ``"main.info"``, ``"v1.2.3.mod"``, ``"v1.2.3.zip"`` (unescaped).
    """

    module: str
    file: str


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


def parse_direct_url(url: str) -> DirectRequest:
    """Decode ``direct:<escaped module>/@v/<file>`` or ``direct:<escaped module>/@latest``.

    Raises:
        DirectError: the URL is not of that shape, or its path or version does not unescape.
    """
    if not url.startswith(DIRECT_PREFIX):
        raise DirectError(f"not a direct-mode URL: {url}")
    rel = url[len(DIRECT_PREFIX) :]
    if rel.endswith("/@latest"):
        escaped, file = rel[: -len("/@latest")], "latest"
    else:
        escaped, sep, file = rel.partition("/@v/")
        if not sep or not file or "/" in file:
            raise DirectError(f"not a direct-mode URL: {url}")
        if file != "list":
            file = unescape_version(file)
    module = unescape_path(escaped)
    check_path(module)
    return DirectRequest(module, file)


def _split_query(file: str) -> tuple[str, str]:
    for suffix in (".info", ".mod", ".zip"):
        if file.endswith(suffix) and len(file) > len(suffix):
            return file[: -len(suffix)], suffix
    raise DirectError(f"not a proxy protocol file: {file}")


def direct_flow(
    url: str, insecure: PrefixPatterns | None = None
) -> Generator[DirectQuery, object, DirectBody | DirectZip]:
    """Answer the direct-mode fetch ``url`` from version control (see the module docs).

    Args:
        url: a ``FetchUpstream`` URL starting with :data:`DIRECT_PREFIX`.
        insecure: GOINSECURE-style patterns: modules whose repositories may be found and
            fetched over plain HTTP.

    Raises:
        ProxyError: the module or version does not exist, or breaks Go's rules; the
            answer is the exception's text, with ``error_status(e)`` as its status.
    """
    req = parse_direct_url(url)
    root = yield from resolve_repo(req.module, insecure or PrefixPatterns(""))
    require_git(root)
    yield OpenRepo(root)
    repo = CodeRepo(req.module, root.root, root.url, root.vcs, subdir=root.subdir)
    if req.file == "list":
        versions = yield from repo.versions("")
        body = "".join(v + "\n" for v in versions).encode()
        return DirectBody(body, _CT_TEXT)
    if req.file == "latest":
        info = yield from repo.latest()
        return DirectBody(info.info_json(), _CT_JSON)
    query, suffix = _split_query(req.file)
    if suffix == ".info":
        info = yield from repo.stat(query)
        return DirectBody(info.info_json(), _CT_JSON)
    if suffix == ".mod":
        data = yield from repo.go_mod(query)
        return DirectBody(data, _CT_TEXT)
    plan = yield from repo.zip_plan(query)
    return DirectZip(req.module, query, plan)
