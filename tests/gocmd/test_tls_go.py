"""The real go command over HTTPS, on every frontend: ``go mod download`` through
``GOPROXY=https://127.0.0.1:PORT`` with the test CA in ``SSL_CERT_FILE`` and the checksum
database on (a fixture database the proxy relays and verifies against), then ``go get`` and
``go mod verify`` in a module, the second time from the proxy's cache."""

from __future__ import annotations

import json

import pytest

from serving import go_env, run_go, serving
from sumdbfix import FixtureDB, add_version

from tlsfix import tls_ca  # noqa: F401 - fixture

NAME = "sumdb.test"
MODS = [
    ("example.com/lib", "v1.0.0", "module example.com/lib\n\ngo 1.21\n", "package lib\n"),
    (
        "example.com/app",
        "v1.0.0",
        "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v1.0.0\n",
        'package app\n\nimport _ "example.com/lib"\n',
    ),
]


@pytest.fixture
def world(tmp_path):
    db = FixtureDB(NAME)
    tree = tmp_path / "upstream"
    for mod, version, gomod, src in MODS:
        add_version(tree, db, mod, version, gomod, {"a.go": src})
    db.publish()
    db.write(tree / "sumdb" / NAME)
    return tree, db


def _objects(out: str) -> list[str]:
    """The JSON objects ``go mod download -json`` prints one after another."""
    decoder, objs, i = json.JSONDecoder(), [], 0
    out = out.strip()
    while i < len(out):
        _, end = decoder.raw_decode(out, i)
        objs.append(out[i:end])
        i = end
        while i < len(out) and out[i].isspace():
            i += 1
    return objs


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
        sums = {d["Path"]: d["Sum"] for d in map(json.loads, _objects(out))}
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
