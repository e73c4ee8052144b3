"""Settings of direct mode, apart from its driver so that reading them needs no git."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping

__all__ = ["VCSSettings"]


class VCSSettings:
    """How direct mode reaches repositories.

    Args:
        vcs_dir: where the bare mirrors live (created on first use).
        timeout: seconds any one ``git`` command or discovery request may take.
        jobs: how many ``git`` commands may run at once in this process.
        refs_ttl: seconds the remote's refs (tags, branches) are reused before asking again.
        insecure: GOINSECURE-style patterns: repositories that may be found and fetched
            over plain HTTP.
        git: the git program.
        env: variables to set for git on top of the server's own environment (for
            example ``GIT_CONFIG_GLOBAL`` or ``GIT_SSH_COMMAND``).
    """

    def __init__(
        self,
        vcs_dir: str | os.PathLike[str],
        *,
        timeout: float = 120.0,
        jobs: int = 4,
        refs_ttl: float = 30.0,
        insecure: str = "",
        git: str = "git",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.env = dict(env or {})
        self.vcs_dir = Path(vcs_dir)
        self.timeout = timeout
        self.jobs = max(1, jobs)
        self.refs_ttl = refs_ttl
        self.insecure = insecure
        self.git = git
