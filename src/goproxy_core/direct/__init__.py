"""Direct mode for embedders: answering proxy requests from version control.

Everything a caller needs to carry out the core's ``FetchUpstream(url="direct:...")``
effects (see :mod:`goproxy_core._direct` for the flow, and ``goproxy_io.vcs`` for the
reference driver over the ``git`` program): run :func:`direct_flow`, answer each query it
yields, and turn its result into the upstream's answer.
"""

from __future__ import annotations

from ..proxy.proxylist import DIRECT_PREFIX
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
from .coderepo import CodeRepo, CodeRepoError, RevResult, ZipPlan, zip_from_archive
from .flow import (
    DirectBody,
    DirectError,
    DirectQuery,
    DirectRequest,
    DirectZip,
    OpenRepo,
    direct_flow,
    parse_direct_url,
)
from .vcs import (
    DiscoveryGet,
    DiscoveryResult,
    ProbeRepo,
    RepoResolveError,
    RepoRoot,
    ResolveQuery,
    UnsupportedVCSError,
    require_git,
    resolve_repo,
)

__all__ = [
    "DIRECT_PREFIX",
    "CodeFlow",
    "CodeQuery",
    "CodeRepo",
    "CodeRepoError",
    "DirectBody",
    "DirectError",
    "DirectQuery",
    "DirectRequest",
    "DirectZip",
    "DiscoveryGet",
    "DiscoveryResult",
    "GitDescendsFrom",
    "GitLatest",
    "GitMergedTags",
    "GitReadFile",
    "GitStat",
    "GitTags",
    "OpenRepo",
    "Origin",
    "ProbeRepo",
    "RepoFileError",
    "RepoResolveError",
    "RepoRoot",
    "ResolveQuery",
    "RevInfo",
    "RevResult",
    "TagList",
    "UnsupportedVCSError",
    "ZipPlan",
    "direct_flow",
    "parse_direct_url",
    "require_git",
    "resolve_repo",
    "zip_from_archive",
]
