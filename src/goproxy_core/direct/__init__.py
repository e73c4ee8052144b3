"""Direct mode for embedders: answering proxy requests from version control.

Everything a caller needs to carry out the core's ``FetchDirect(module, file)``
effects (see :mod:`goproxy_core.direct.flow` for the flow, and ``goproxy_io.vcs`` for the
reference driver over the ``git`` program): run :func:`direct_flow`, answer each query it
yields, and turn its result into the upstream's answer (an exception's status is
:func:`goproxy_core.proxy.error_status`).

The pieces mirror golang/go ``cmd/go/internal``: ``vcs.py`` (``vcs/vcs.go``: from a module
path to its repository), ``discovery.py`` (``vcs/discovery.go``: go-import tags),
``neturl.py`` (the ``net/url`` rules it needs), ``codehost.py`` (``modfetch/codehost``: the
repository queries) and ``coderepo.py`` (``modfetch/coderepo.go``: versions, go.mod files and
zips from a repository). The lower-level helpers exported here (:func:`match_general`,
:func:`validate_repo_root`, :func:`proc_inst`, :func:`tag_sum`, ...) are the go command's
rules on their own, for tests and tools.
"""

from __future__ import annotations

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
from .coderepo import CodeRepo, CodeRepoError, RevResult, ZipPlan, tag_sum, zip_from_archive
from .discovery import MetaImport, parse_meta_go_imports, proc_inst
from .flow import (
    DirectBody,
    DirectError,
    DirectQuery,
    DirectZip,
    OpenRepo,
    direct_flow,
)
from .vcs import (
    DiscoveryGet,
    DiscoveryResult,
    ImportMismatchError,
    ProbeRepo,
    RepoResolveError,
    RepoRoot,
    ResolveFlow,
    ResolveQuery,
    UnsupportedVCSError,
    discovery_url,
    match_general,
    match_go_import,
    require_git,
    resolve_repo,
    validate_repo_root,
)

__all__ = [
    "CodeFlow",
    "CodeQuery",
    "CodeRepo",
    "CodeRepoError",
    "DirectBody",
    "DirectError",
    "DirectQuery",
    "DirectZip",
    "DiscoveryGet",
    "DiscoveryResult",
    "GitDescendsFrom",
    "GitLatest",
    "GitMergedTags",
    "GitReadFile",
    "GitStat",
    "GitTags",
    "ImportMismatchError",
    "MetaImport",
    "OpenRepo",
    "Origin",
    "ProbeRepo",
    "RepoFileError",
    "RepoResolveError",
    "RepoRoot",
    "ResolveFlow",
    "ResolveQuery",
    "RevInfo",
    "RevResult",
    "TagList",
    "UnsupportedVCSError",
    "ZipPlan",
    "direct_flow",
    "discovery_url",
    "match_general",
    "match_go_import",
    "parse_meta_go_imports",
    "proc_inst",
    "require_git",
    "resolve_repo",
    "tag_sum",
    "validate_repo_root",
    "zip_from_archive",
]
