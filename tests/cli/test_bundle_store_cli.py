"""Import, what the end-to-end tests cannot reach: the verified tree never rolled back by a
publish, and a failure after every check passed told as such."""

from __future__ import annotations

import io
import tarfile

from goproxy_cli import bundle
from goproxy_cli.main import main
from goproxy_core.bundle import FORMAT, MANIFEST_NAME, Manifest, encode_manifest


def test_publishing_keeps_a_larger_verified_tree_stored_meanwhile(tmp_path):
    """Replicas and other imports on one bucket verify trees too: the import's verified
    tree replaces the stored one only when larger (the plan judged it against the tree it read
    before its checks; one stored since is not rolled back)."""
    from goproxy_core.bundle import ImportPlan
    from goproxy_core.bundle.check import Write
    from goproxy_core.proxy import keys
    from goproxy_core.sumdb.treenote import Tree
    from goproxy_stores import DiskStore

    key = keys.sumdb_tree_key("sumdb.test")
    store = DiskStore(tmp_path / "c")

    def note(n: int) -> bytes:
        return f"go.sum database tree\n{n}\nhash{n}\n\n— sig\n".encode()

    def plan(n: int) -> ImportPlan:
        return ImportPlan(writes=[Write(key, note(n))], heads={"sumdb.test": Tree(n, b"h" * 32)})

    for stored, imported, want in ((None, 3, 3), (5, 3, 5), (5, 5, 5), (5, 8, 8)):
        if stored is not None:
            w = store.writer(key)
            w.write(note(stored))
            w.commit()
        done = bundle._publish(store, store, plan(imported), "_goproxy/import/x/")
        f = store.open(key)
        assert f is not None
        with f:
            assert f.read() == note(want), (stored, imported)
        assert done == ([key] if want == imported and stored != imported else [])


def test_a_store_failing_mid_publish_says_so(tmp_path, monkeypatch, capsys):
    """A failure after every check passed is not "nothing of it was added": the line says
    the bundle was verified, part may be published (whole files), and to run it again."""

    def down(*_: object) -> None:
        raise OSError("object store: x: GenericError: connection refused")

    # A bundle with no versions and no database: verified at once, then published.
    data = encode_manifest(
        Manifest(format=FORMAT, created="2026-12-04T00:00:00Z", databases=[], versions=[])
    )
    path = tmp_path / "empty.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(bundle, "_publish", down)
    monkeypatch.setenv("GOPROXY_CORE_SUMDB", "off")
    code = main(["import", "--store", (tmp_path / "s").as_uri(), str(path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "verified, then publishing failed: object store: x" in err, err
    assert "run the import again" in err and "nothing of it was added" not in err, err
