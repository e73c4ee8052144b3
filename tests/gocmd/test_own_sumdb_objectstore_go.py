"""Our own checksum database on an object store, judged by the go command: two replicas
(``goproxy serve --store s3://... --own-sumdb sumdb.test``) on one bucket of a real
S3-compatible server (``weed mini`` on loopback) serve one log.

The key is made once in the bucket (both replicas and ``goproxy sumdb key --store`` print the
same); the go command downloads through one replica and verifies against its database, then
``go get`` and ``go mod verify`` through the other, a fresh process that reads the log from the
bucket; many lookups of new versions spread over both replicas at once log each version once,
in one tree both serve.
"""

from __future__ import annotations

import http.client
from concurrent.futures import ThreadPoolExecutor

import pytest

from goproxy_core.sumdb import (
    LookupResult,
    new_verifier,
    open_tree_note,
    parse_tile_path,
    verify_lookup,
)
from seaweedfs import weed  # noqa: F401 - the session's weed mini
from serving import go_env, goproxy, run_go, serving
from sumdbfix import add_version

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
MORE = 6


@pytest.fixture
def tree(tmp_path):
    tree = tmp_path / "upstream"
    for mod, version, gomod, src in MODS:
        add_version(tree, None, mod, version, gomod, {"a.go": src})
    for i in range(MORE):
        mod = f"example.com/m{i}"
        add_version(tree, None, mod, "v1.0.0", f"module {mod}\n", {"a.go": "package m\n"})
    return tree


def _get(url: str, path: str) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def test_two_replicas_serve_one_log_the_go_command_verifies(tree, weed, tmp_path):  # noqa: F811
    url = f"s3://{weed.bucket}/own-{tmp_path.name}"
    env = weed.env()
    key = goproxy("sumdb", "key", "--store", url, "--name", NAME, env=env)
    assert key.returncode == 0, key.stderr
    vkey = key.stdout.strip()
    args = ("--store", url, "--upstream", tree.as_uri(), "--own-sumdb", NAME)
    with (
        serving(*args, cache=tmp_path / "a", env=env) as a,
        serving(*args, cache=tmp_path / "b", env=env) as b,
    ):
        assert a.gosumdb == f"{vkey} {a.url}/sumdb/{NAME}"
        assert b.gosumdb == f"{vkey} {b.url}/sumdb/{NAME}"

        # Through replica a: downloaded and verified against our database.
        gov = go_env(tmp_path / "home1", a.url, sumdb=a.gosumdb)
        code, out, err = run_go(
            ["mod", "download", "-json", "example.com/app@v1.0.0", "example.com/lib@v1.0.0"], gov
        )
        assert code == 0, err

        # Through replica b (its own memory): the same log, read from the bucket.
        work = tmp_path / "w"
        work.mkdir()
        gov = go_env(tmp_path / "home2", b.url, sumdb=b.gosumdb)
        assert run_go(["mod", "init", "example.com/scratch"], gov, work)[0] == 0
        code, _, err = run_go(["get", "example.com/app@v1.0.0"], gov, work)
        assert code == 0, err
        code, out, err = run_go(["mod", "verify"], gov, work)
        assert code == 0, err
        assert "all modules verified" in out
        status, latest = _get(b.url, f"/sumdb/{NAME}/latest")
        assert status == 200 and open_tree_note(latest, [new_verifier(vkey)]).N == 2

        # New versions asked for on both replicas at once: each logged once, one tree.
        paths = [f"/sumdb/{NAME}/lookup/example.com/m{i % MORE}@v1.0.0" for i in range(36)]
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(
                pool.map(lambda ip: _get((a, b)[ip[0] % 2].url, ip[1]), enumerate(paths))
            )
        assert [s for s, _ in answers] == [200] * 36, answers
        latest_a, latest_b = (_get(r.url, f"/sumdb/{NAME}/latest")[1] for r in (a, b))
        assert latest_a == latest_b
        verifier = new_verifier(vkey)
        head = open_tree_note(latest_a, [verifier])
        assert head.N == 2 + MORE
        tile = f"tile/8/0/000.p/{head.N}"
        tiles = {parse_tile_path(tile): _get(a.url, f"/sumdb/{NAME}/{tile}")[1]}
        assert tiles == {parse_tile_path(tile): _get(b.url, f"/sumdb/{NAME}/{tile}")[1]}
        ids = {}
        for path, (_, body) in zip(paths, answers, strict=True):
            got = verify_lookup(body, [verifier], tiles, latest=head)
            assert isinstance(got, LookupResult)
            assert ids.setdefault(path, got.id) == got.id  # one record per version
        assert sorted(ids.values()) == list(range(2, 2 + MORE))
