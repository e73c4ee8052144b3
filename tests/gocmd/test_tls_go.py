"""The real go command over HTTPS, on every frontend: ``go mod download`` through
``GOPROXY=https://127.0.0.1:PORT`` with the test CA in ``SSL_CERT_FILE`` and the checksum
database on (a fixture database the proxy relays and verifies against), then ``go get`` and
``go mod verify`` in a module, the second time from the proxy's cache."""

from __future__ import annotations

import pytest

from serving import download_sums, go_env, run_go, serving
from sumdbfix import app_and_lib

from tlsfix import tls_ca  # noqa: F401 - fixture

NAME = "sumdb.test"


@pytest.fixture
def world(tmp_path):
    tree = tmp_path / "upstream"
    db, _ = app_and_lib(tree, NAME)
    return tree, db


@pytest.mark.parametrize("frontend", ["trio", "asyncio", "sockets"])
def test_go_mod_download_over_https(frontend, world, tls_ca, tmp_path):  # noqa: F811
    tree, db = world
    files = tls_ca.issue()
    args = ("--frontend", frontend, "--sumdb", db.vkey, *files.args())
    with serving("--upstream", tree.as_uri(), *args, cache=tmp_path / "cache") as served:
        assert served.url.startswith("https://127.0.0.1:")
        env = go_env(tmp_path / "home1", served.url, sumdb=db.vkey, **tls_ca.env())
        code, out, err = run_go(
            ["mod", "download", "-json", "example.com/app@v1.0.0", "example.com/lib@v1.0.0"], env
        )
        assert code == 0, err
        sums = download_sums(out)
        assert sums["example.com/lib"] == db.records[0].decode().split()[2]

        # Without the CA the go command refuses the proxy: its certificate is not trusted.
        env = go_env(tmp_path / "home0", served.url, sumdb=db.vkey)
        code, _, err = run_go(["mod", "download", "example.com/lib@v1.0.0"], env)
        assert code != 0 and "certificate" in err, err

    # A second proxy on the same cache with the upstream off: answered from the cache.
    with serving("--upstream", "off", *args, cache=tmp_path / "cache") as served:
        work = tmp_path / "w"
        work.mkdir()
        env = go_env(tmp_path / "home2", served.url, sumdb=db.vkey, **tls_ca.env())
        assert run_go(["mod", "init", "example.com/scratch"], env, work)[0] == 0
        code, _, err = run_go(["get", "example.com/app@v1.0.0"], env, work)
        assert code == 0, err
        code, out, err = run_go(["mod", "verify"], env, work)
        assert code == 0, err
        assert "all modules verified" in out
