"""Across an air gap with both caches in object stores: warm, export, import, serve offline.

The air-gap path of tests/gocmd/test_airgap.py with ``--store`` instead of a cache dir, on a
real S3-compatible server (``weed mini`` on loopback) and on ``file://``: ``goproxy warm`` fills
store A from a project's go.sum through a fixture upstream that mirrors a fixture checksum
database; ``goproxy export`` reads A through the store interface (online: the head fetched
through the upstream; ``--offline``: the tree A verified and the tiles A holds); ``goproxy
import`` checks the bundle against the key given on its own command line and fills store B
(another prefix of the bucket); ``goproxy serve --upstream off --store B`` (``--offline`` on
``file://``) serves it, and a real go command with the checksum database on downloads and
verifies the project, and resolves its go.sum afresh through B. A bundle with one byte
altered is refused and B is unchanged, object for object; no import leaves its local staging
directory behind, and one left by an import killed before its end is removed by the next.
Nothing lands in the local cache dir.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import obstore
import pytest

from goproxy_stores.objectstore import open_object_store
from seaweedfs import CREDENTIALS, weed  # noqa: F401 - the session's weed mini
from serving import go_env, goproxy, run_go, serving
from sumdbfix import FixtureDB, add_version

NAME = "sumdb.test"
T = "2024-01-02T03:04:05Z"
UTIL = "module example.com/util\n\ngo 1.21\n"
MODS = [
    ("example.com/util", "v1.0.0", UTIL, {"u.go": "package util\n\nconst V = 0\n"}),
    ("example.com/util", "v1.1.0", UTIL, {"u.go": "package util\n\nconst V = 1\n"}),
    (
        "example.com/lib",
        "v1.1.0",
        "module example.com/lib\n\ngo 1.21\n\nrequire example.com/util v1.0.0\n",
        {"l.go": 'package lib\n\nimport "example.com/util"\n\nconst L = util.V + 1\n'},
    ),
]
PROJECT_MOD = (
    "module example.com/project\n\ngo 1.21\n\nrequire (\n\texample.com/lib v1.1.0\n"
    "\texample.com/util v1.1.0\n)\n"
)
PROJECT_MAIN = (
    'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/lib"\n\t"example.com/util"\n)\n\n'
    "func main() { fmt.Println(lib.L, util.V) }\n"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The upstream tree with its database, and a project with the go.sum go writes."""
    db = FixtureDB(NAME)
    tree = tmp_path_factory.mktemp("upstream")
    for mod, version, gomod, files in MODS:
        add_version(tree, db, mod, version, gomod, files, T)
    db.publish_in(tree)
    project = tmp_path_factory.mktemp("project")
    (project / "go.mod").write_text(PROJECT_MOD)
    (project / "main.go").write_text(PROJECT_MAIN)
    home = tmp_path_factory.mktemp("home")
    r = run_go(["mod", "tidy"], go_env(home, tree.as_uri(), sumdb=db.vkey), project)
    assert r.returncode == 0, r.show()
    return {"db": db, "tree": tree, "project": project}


def _stores(kind: str, request, tmp_path: Path) -> tuple[str, str, dict[str, str], str]:
    """Store URLs A and B, the goproxy environment, and the endpoint (s3 only)."""
    if kind == "s3":
        w = request.getfixturevalue("weed")
        base = f"s3://{w.bucket}/airgap-{tmp_path.name}"
        return f"{base}/a", f"{base}/b", w.env(), w.endpoint
    return (tmp_path / "a").as_uri(), (tmp_path / "b").as_uri(), {}, ""


def _objects(url: str, endpoint: str) -> dict[str, tuple[int, str | None]]:
    """Every object under the store's root (its own ``.goproxy/`` ones too): size, ETag."""
    store = open_object_store(url, endpoint=endpoint)
    return {
        m["path"]: (int(m["size"]), m.get("e_tag"))
        for batch in obstore.list(store.inner)
        for m in batch
    }


def _flip_zip(src: Path, dst: Path) -> None:
    """The bundle with one byte in the middle of its first zip changed."""
    with tarfile.open(src) as t:
        members = [(m, t.extractfile(m).read()) for m in t.getmembers()]
    done = False
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            if not done and info.name.endswith(".zip"):
                i = len(data) // 2
                data = data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :]
                done = True
            t.addfile(info, io.BytesIO(data))
    assert done


@pytest.mark.parametrize(("kind", "offline"), [("s3", False), ("s3", True), ("file", False)])
def test_warm_export_import_serve_on_object_stores(
    world, kind, offline, request, tmp_path, monkeypatch
):
    vkey = world["db"].vkey
    a, b, env, endpoint = _stores(kind, request, tmp_path)
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    tmp = tmp_path / "tmp"  # where import stages: must be empty after every import
    tmp.mkdir()
    env = {**env, "TMPDIR": str(tmp)}
    local = tmp_path / "local"
    gosum = str(world["project"] / "go.sum")
    online = ("--upstream", world["tree"].as_uri(), "--sumdb", vkey)

    r = goproxy("warm", "--store", a, "--cache-dir", str(local), *online, gosum, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    held = _objects(a, endpoint)
    assert "example.com/lib/@v/v1.1.0.zip" in held, sorted(held)
    assert f"_goproxy/sumdb/{NAME}/verified-tree" in held, sorted(held)

    bundle = tmp_path / "modules.tar"
    how = ("--offline", "--sumdb", vkey) if offline else online
    r = goproxy(
        "export", "--store", a, "--cache-dir", str(local), *how, "-o", str(bundle), gosum, env=env
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "export: 2 versions" in r.stdout, r.stdout

    crashed = tmp / "goproxy-import.999999999.x"  # what an import killed with -9 left
    (crashed / "_goproxy").mkdir(parents=True)
    r = goproxy("import", "--store", b, "--sumdb", vkey, str(bundle), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(tmp.iterdir()) == []
    imported = _objects(b, endpoint)
    files = [k for k in held if k.endswith((".mod", ".zip")) and "/@v/" in k]
    assert len(files) == 4, files  # lib and util v1.1.0 (the graph is pruned)
    for key in files:
        assert imported[key][0] == held[key][0], key
    assert f"_goproxy/sumdb/{NAME}/verified-tree" in imported
    assert f"sumdb/{NAME}/latest" in imported

    # A tampered bundle: refused, the store unchanged object for object, nothing staged left.
    bad = tmp_path / "bad.tar"
    _flip_zip(bundle, bad)
    r = goproxy("import", "--store", b, "--sumdb", vkey, str(bad), env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "refused" in r.stderr and "nothing of it was added" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert _objects(b, endpoint) == imported
    assert list(tmp.iterdir()) == []
    # Into an empty store: still nothing.
    c = a.rsplit("/", 1)[0] + "/c"
    r = goproxy("import", "--store", c, "--sumdb", vkey, str(bad), env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert _objects(c, endpoint) == {}

    # Served offline from B, checksum database on; the go command checks everything.
    project = tmp_path / "project"
    shutil.copytree(world["project"], project)
    no_net = {"HTTPS_PROXY": "http://127.0.0.1:1", "HTTP_PROXY": "http://127.0.0.1:1"}
    off = ("--offline",) if kind == "file" else ("--upstream", "off")  # both mean offline
    args = (*off, "--store", b, "--sumdb", vkey)
    with serving(*args, cache=local, env=env) as served:
        genv = go_env(tmp_path / "home", served.url, sumdb=vkey, **no_net)
        r = run_go(["mod", "download"], genv, project)
        assert r.returncode == 0, r.show()
        r = run_go(["mod", "verify"], genv, project)
        assert r.returncode == 0 and "all modules verified" in r.stdout, r.show()
        fresh = tmp_path / "fresh"
        shutil.copytree(world["project"], fresh)
        (fresh / "go.sum").unlink()
        genv2 = go_env(tmp_path / "home2", served.url, sumdb=vkey, **no_net)
        r = run_go(["mod", "tidy"], genv2, fresh)
        assert r.returncode == 0, r.show()
        assert (fresh / "go.sum").read_text() == (world["project"] / "go.sum").read_text()
    # The local cache dir holds no module file: everything went to the stores.
    assert not [p for p in local.rglob("*") if p.suffix in (".zip", ".mod", ".info")]


def test_a_store_that_does_not_answer_is_one_line(world, tmp_path):
    """Export and import on a store that is down: exit status 1, one line naming the store,
    within the store's few quick retries. The import stops at the tree verified there, which
    it could not read: never taken for no tree, which would skip the check against it."""
    vkey = world["db"].vkey
    a = (tmp_path / "a").as_uri()
    gosum = str(world["project"] / "go.sum")
    r = goproxy("warm", "--store", a, "--upstream", world["tree"].as_uri(), "--sumdb", vkey, gosum)
    assert r.returncode == 0, r.stdout + r.stderr
    bundle = tmp_path / "b.tar"
    r = goproxy("export", "--store", a, "--offline", "--sumdb", vkey, "-o", str(bundle), gosum)
    assert r.returncode == 0, r.stdout + r.stderr
    down = ("--store", "s3://bucket/p", "--store-endpoint", "http://127.0.0.1:9")
    env = {"TMPDIR": str(tmp_path), **CREDENTIALS}
    for args in (
        ("export", *down, "--offline", "--sumdb", vkey, "-o", str(tmp_path / "x.tar"), "--all"),
        ("import", *down, "--sumdb", vkey, str(bundle)),
    ):
        r = goproxy(*args, env=env, timeout=90)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"goproxy {args[0]}: "), r.stderr
        assert "object store" in lines[0], r.stderr
    assert not (tmp_path / "x.tar").exists()
    assert not list(tmp_path.glob("goproxy-import.*"))


def test_the_own_checksum_database_in_a_store_travels_too(world, tmp_path):
    """The own database's log kept in the store (``.goproxy/sumdb/<name>/``, where every
    replica appends): export proves the versions in it too, import checks them with the own
    key, and a go client whose GOSUMDB is the own key downloads and verifies through the
    offline proxy."""
    from goproxy_io.sumdb_objlog import ObjectSumdbLog
    from goproxy_stores.objectstore import open_object_store

    own = "sumdb.corp.test"
    vkey = world["db"].vkey
    a, b = (tmp_path / "a").as_uri(), (tmp_path / "b").as_uri()
    gosum = str(world["project"] / "go.sum")
    r = goproxy("warm", "--store", a, "--upstream", world["tree"].as_uri(), "--sumdb", vkey, gosum)
    assert r.returncode == 0, r.stdout + r.stderr
    log = ObjectSumdbLog(open_object_store(a), own)
    for i, (mod, version, *_) in enumerate(MODS):
        if i:  # util v1.1.0 and lib v1.1.0: the project's versions
            log.append(mod, version, world["db"].records[i])
    own_key = log.vkey
    bundle = tmp_path / "own.tar"
    r = goproxy(
        "export", "--store", a, "--own-sumdb", own, "--sumdb", vkey, "--offline",
        "-o", str(bundle), gosum,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{own} at tree #2" in r.stdout, r.stdout
    r = goproxy("import", "--store", b, "--sumdb", vkey, str(bundle))
    assert r.returncode == 1 and f"{own}" in r.stderr, r.stderr  # no key for it: refused
    r = goproxy("import", "--store", b, "--sumdb", vkey, "--sumdb", own_key, str(bundle))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{own} at tree #2" in r.stdout, r.stdout
    project = tmp_path / "project"
    shutil.copytree(world["project"], project)
    args = ("--offline", "--store", b, "--sumdb", own_key)
    with serving(*args, cache=tmp_path / "local") as served:
        genv = go_env(tmp_path / "home", served.url, sumdb=own_key)
        r = run_go(["mod", "download"], genv, project)
        assert r.returncode == 0, r.show()
        r = run_go(["mod", "verify"], genv, project)
        assert r.returncode == 0 and "all modules verified" in r.stdout, r.show()
