"""The real go command against a proxy that keeps some modules for token holders.

Over plain HTTP the go command never sends credentials (cmd/go ``internal/auth``
``AddCredentials`` adds them to HTTPS requests only), even with a ``.netrc`` that names the
proxy: so here it gets the public modules and, for a private one, the 401's one-line text
naming the problem, on every server. The same with a token in ``.netrc`` over HTTPS is
``test_auth_https_go.py``.
"""

from __future__ import annotations

from subprocess import DEVNULL

import pytest
from test_go_command import _add

from serving import go_env, run_go, serving

SECRET = "corp.example/secret"
PUBLIC = "example.com/plain"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    t = tmp_path_factory.mktemp("tree")
    src = {"a.go": "package a\n"}
    _add(t, PUBLIC, "v1.0.0", src, f"module {PUBLIC}\n\ngo 1.21\n")
    _add(t, SECRET, "v1.0.0", src, f"module {SECRET}\n\ngo 1.21\n")
    return t


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_go_gets_public_modules_and_the_401_text_for_private_ones(frontend, tree, tmp_path):
    cache = tmp_path / "cache"
    from goproxy_io.tokens import add_token

    token = add_token(cache / "_goproxy" / "tokens.json", "ci", scope="corp.example")
    with serving(
        "--upstream",
        tree.as_uri(),
        "--anonymous",
        "example.com",
        "--frontend",
        frontend,
        cache=cache,
        stderr=DEVNULL,
    ) as served:
        home = tmp_path / "home"
        home.mkdir()
        # A .netrc naming the proxy: over plain HTTP the go command still sends nothing.
        netrc = home / ".netrc"
        netrc.write_text(f"machine 127.0.0.1 login me password {token}\n")
        netrc.chmod(0o600)
        env = go_env(home, served.url, NETRC=str(netrc))
        got = run_go(["mod", "download", "-json", f"{PUBLIC}@v1.0.0"], env)
        assert got.returncode == 0, got.show()
        got = run_go(["mod", "download", "-json", f"{SECRET}@v1.0.0"], env)
        assert got.returncode != 0, got.show()
        out = got.stdout + got.stderr
        assert "401 Unauthorized" in out, got.show()
        assert f"unauthorized: module {SECRET} needs a token (.netrc or GOAUTH)" in out, got.show()
        assert token not in out
        got = run_go(["list", "-m", "-versions", SECRET], env)
        assert got.returncode != 0 and "needs a token" in got.stdout + got.stderr, got.show()
