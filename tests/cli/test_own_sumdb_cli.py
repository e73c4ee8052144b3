"""The own checksum database's command-line contract: ``goproxy sumdb key`` and ``--own-sumdb``."""

from __future__ import annotations

import http.client
import stat
from concurrent.futures import ThreadPoolExecutor

from goproxy_core.sumdb import (
    LookupResult,
    new_verifier,
    open_tree_note,
    parse_tile_path,
    verifier_key,
    verify_lookup,
)
from serving import goproxy, serving

from support import make_zip

NAME = "sumdb.test"


def test_sumdb_key_prints_the_verifier_key_and_makes_the_signer_key_once(tmp_path):
    cache = tmp_path / "cache"
    first = goproxy("sumdb", "key", "--cache-dir", str(cache), "--name", NAME)
    assert first.returncode == 0, first.stderr
    vkey = first.stdout.strip()
    assert new_verifier(vkey).name == NAME
    key_file = cache / "sumdb" / NAME / "signer.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert verifier_key(key_file.read_text().strip()) == vkey
    again = goproxy("sumdb", "key", "--cache-dir", str(cache), "--name", NAME)
    assert again.stdout == first.stdout
    # the same setting from a config file or the environment
    toml = tmp_path / "goproxy.toml"
    toml.write_text(f'cache-dir = "{cache}"\nown-sumdb = "{NAME}"\n')
    assert goproxy("sumdb", "key", "--config", str(toml)).stdout == first.stdout
    env = {"GOPROXY_CORE_CACHE_DIR": str(cache), "GOPROXY_CORE_OWN_SUMDB": NAME}
    assert goproxy("sumdb", "key", env=env).stdout == first.stdout


def test_sumdb_key_of_an_object_store_is_the_one_in_the_store(tmp_path):
    url = (tmp_path / "bucket").as_uri()
    first = goproxy("sumdb", "key", "--store", url, "--name", NAME)
    assert first.returncode == 0, first.stderr
    vkey = first.stdout.strip()
    key_object = tmp_path / "bucket" / ".goproxy" / "sumdb" / NAME / "signer.key"
    assert verifier_key(key_object.read_text().strip()) == vkey
    env = {"GOPROXY_CORE_STORE": url, "GOPROXY_CORE_OWN_SUMDB": NAME}
    assert goproxy("sumdb", "key", env=env).stdout == first.stdout
    key_object.write_text("not a key\n")
    r = goproxy("sumdb", "key", "--store", url, "--name", NAME)
    assert r.returncode == 1
    assert r.stderr == (
        f"goproxy: sumdb key: .goproxy/sumdb/{NAME}/signer.key holds no valid signer key: "
        "malformed verifier id\n"
    )


def test_sumdb_key_errors(tmp_path):
    r = goproxy("sumdb", "key", "--cache-dir", str(tmp_path))
    assert r.returncode == 2 and "--name" in r.stderr
    r = goproxy("sumdb", "key", "--cache-dir", str(tmp_path), "--name", "not a name")
    assert r.returncode == 2 and "own-sumdb: not a checksum database name" in r.stderr
    (tmp_path / "sumdb").write_text("a file where a directory goes")
    r = goproxy("sumdb", "key", "--cache-dir", str(tmp_path), "--name", NAME)
    assert r.returncode == 1 and "sumdb key" in r.stderr
    r = goproxy("serve", "--cache-dir", str(tmp_path), "--own-sumdb", NAME, "--upstream", "off")
    assert r.returncode == 1 and f"own checksum database {NAME}" in r.stderr


def _tree(root):
    for i in range(5):
        module = f"example.com/m{i}"
        d = root / module / "@v"
        d.mkdir(parents=True)
        gomod = f"module {module}\n".encode()
        (d / "v1.0.0.info").write_text('{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}')
        (d / "v1.0.0.mod").write_bytes(gomod)
        (d / "v1.0.0.zip").write_bytes(make_zip(module, "v1.0.0", {"go.mod": gomod}))
    return root


def _get(port: int, path: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def test_workers_share_one_log(tmp_path):
    tree = _tree(tmp_path / "tree")
    key = goproxy("sumdb", "key", "--cache-dir", str(tmp_path / "cache"), "--name", NAME)
    vkey = key.stdout.strip()
    args = ("--upstream", tree.as_uri(), "--own-sumdb", NAME, "--workers", "3")
    with serving(*args, cache=tmp_path / "cache") as served:
        port = served.port
        assert served.gosumdb == f"{vkey} http://127.0.0.1:{port}/sumdb/{NAME}"
        with ThreadPoolExecutor(max_workers=30) as pool:
            paths = [f"/sumdb/{NAME}/lookup/example.com/m{i % 5}@v1.0.0" for i in range(30)]
            answers = list(pool.map(lambda path: _get(port, path), paths))
        failed = [(i, s, b) for i, (s, b) in enumerate(answers) if s != 200]
        assert not failed, f"answers other than 200 (request, status, body): {failed}"
        bodies: dict[int, list[bytes]] = {i: [] for i in range(5)}
        for i, (_, body) in enumerate(answers):
            bodies[i % 5].append(body)
        status, latest = _get(port, f"/sumdb/{NAME}/latest")
        assert status == 200, latest
        verifier = new_verifier(vkey)
        tree_head = open_tree_note(latest, [verifier])
        assert tree_head.N == 5  # each version logged once, whichever worker took it
        status, tile = _get(port, f"/sumdb/{NAME}/tile/8/0/000.p/5")
        assert status == 200, tile
        tiles = {parse_tile_path("tile/8/0/000.p/5"): tile}
        ids = set()
        for i, got in bodies.items():
            assert len(got) == 6
            records = {b.split(b"\n\n")[0] for b in got}
            assert len(records) == 1  # every answer gives the same record
            for body in got:
                res = verify_lookup(body, [verifier], tiles, latest=tree_head)
                assert isinstance(res, LookupResult)
                assert res.lines(f"example.com/m{i}", "v1.0.0")
                ids.add(res.id)
        assert ids == set(range(5))
