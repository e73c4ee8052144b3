"""The real go command over HTTPS with tokens, on every frontend (issue 15's end-to-end test).

``goproxy serve --tls-cert ... --private git.example.test``: private modules come from their
git repositories (direct mode, the ``gitrepos`` fixture) and need a token whose scope covers
them; public ones come from a ``file://`` tree to anyone. The go command trusts the test CA
(``SSL_CERT_FILE``) and sends the token from ``.netrc`` (the ``GOAUTH`` default, and
``GOAUTH=netrc`` said explicitly; the machine is ``127.0.0.1:PORT``) as HTTP Basic, over
HTTPS only (cmd/go ``internal/auth``):

* a token in scope: private and public modules come;
* no token: public modules come, a private one fails with the 401's text;
* a token of another scope: the 403's text.
"""

from __future__ import annotations

import gitrepos
import pytest
from gitrepos import HOST
from test_go_command import _add

from serving import go_env, offline_git, run_go, serving

from tlsfix import tls_ca  # noqa: F401 - fixture

PRIVATE = f"{HOST}/team/repo.git@v1.0.0"
PUBLIC = "example.com/plain"


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> gitrepos.Fixture:
    return gitrepos.build(tmp_path_factory.mktemp("gitrepos"))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    t = tmp_path_factory.mktemp("tree")
    _add(t, PUBLIC, "v1.0.0", {"a.go": "package a\n"}, f"module {PUBLIC}\n\ngo 1.21\n")
    return t


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_tokens_over_https_with_the_go_command(frontend, fx, tree, tls_ca, tmp_path):  # noqa: F811
    from goproxy_io.tokens import add_token

    cache = tmp_path / "cache"
    tokens = cache / "_goproxy" / "tokens.json"
    good = add_token(tokens, "ci", scope=HOST)
    other = add_token(tokens, "other", scope="other.example")
    files = tls_ca.issue()
    with serving(
        "--upstream",
        tree.as_uri(),
        "--private",
        HOST,
        "--frontend",
        frontend,
        *files.args(),
        cache=cache,
        env={"HOME": str(fx.home), **offline_git(fx.gitconfig)},
        log=tmp_path / "server.log",
    ) as served:
        assert served.url.startswith("https://127.0.0.1:")

        def go(name: str, token: str | None, *args: str, **extra: str):
            home = tmp_path / name
            home.mkdir()
            netrc = home / ".netrc"
            if token is not None:
                # Since go 1.24 the machine is the URL's host with its port (cmd/go
                # internal/auth loadCredential matches u.Host, then its path prefixes).
                netrc.write_text(f"machine 127.0.0.1:{served.port} login me password {token}\n")
                netrc.chmod(0o600)
            env = go_env(
                home,
                served.url,
                GONOSUMDB=HOST,
                GONOPROXY="none",
                NETRC=str(netrc),
                **tls_ca.env(),
                **offline_git(fx.offline_gitconfig),
                **extra,
            )
            got = run_go(["mod", "download", "-json", *args], env)
            return got, got.stdout + got.stderr

        for name, extra in (("netrc", {}), ("goauth", {"GOAUTH": "netrc"})):
            got, _ = go(name, good, PRIVATE, f"{PUBLIC}@v1.0.0", **extra)
            assert got.returncode == 0, got.show()

        got, out = go("none", None, f"{PUBLIC}@v1.0.0")
        assert got.returncode == 0, got.show()
        got, out = go("none-private", None, PRIVATE)
        assert got.returncode != 0
        assert "401 Unauthorized" in out, got.show()
        assert f"unauthorized: module {HOST}/team/repo.git needs a token" in out, got.show()

        got, out = go("other", other, PRIVATE)
        assert got.returncode != 0
        assert "403 Forbidden" in out, got.show()
        assert f"forbidden: token other does not cover module {HOST}/team/repo.git" in out
    log = (tmp_path / "server.log").read_text()
    assert "token=ci" in log and good.split("_", 2)[2] not in log
    assert other.split("_", 2)[2] not in log
