"""Checksum-database lookups are kept for good: a warm client verifies against them after the
database moved on.

The proxy keeps a lookup after its first verified fetch and serves it from the store as
immutable. The database then grows (a new version, a newer signed tree, every upstream lookup
re-signed with it); a fresh client first meets the newer tree (the new version's lookup, fetched
through), then the kept lookups with their older tree. The go command takes the older tree as
the past once it is in the newer one (x/mod ``sumdb/client.go`` ``mergeLatest``, checked with
tiles the proxy serves), so ``go get``, ``go mod download`` and ``go mod verify`` all pass.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

from test_verify_sumdb import MODS, NAME, _add, go, sumdb_proxy

from sumdbfix import FixtureDB

NEW = ("example.com/lib", "v1.2.0", "module example.com/lib\n\ngo 1.21\n", "package lib // 1.2\n")


def _get(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read(), r.headers.get("Cache-Control", "")


def test_kept_lookups_verify_after_the_database_moved_on(tmp_path: Path) -> None:
    db = FixtureDB(NAME)
    tree = tmp_path / "tree"
    for m in MODS:
        _add(tree, db, *m)
    db.publish_in(tree)
    vkey = db.vkey
    with sumdb_proxy(tree, tmp_path / "cache", vkey) as served:
        proxy = served.url
        lookup = f"{proxy}/sumdb/{NAME}/lookup/example.com/lib@v1.1.0"
        # A first client fills the proxy: lookups, tiles, files.
        first = tmp_path / "first"
        work = first / "w"
        work.mkdir(parents=True)
        assert go(["mod", "init", "example.com/scratch"], proxy, vkey, first, work)[0] == 0
        code, _, err = go(["get", "example.com/app@v1.0.0"], proxy, vkey, first, work)
        assert code == 0, err
        kept, cc = _get(lookup)
        assert "immutable" in cc, cc

        # The database moves on: one more version, a newer tree, every lookup signed anew.
        _add(tree, db, *NEW)
        db.publish_in(tree)
        upstream = (tree / "sumdb" / NAME / "lookup/example.com/lib@v1.1.0").read_bytes()
        assert upstream != kept  # same record, newer tree
        assert upstream.split(b"\n\n")[0] == kept.split(b"\n\n")[0]

        # The kept lookup is what the proxy still answers, from the store.
        again, cc = _get(lookup)
        assert again == kept
        assert "immutable" in cc, cc

        # A warm proxy, a fresh client: the newer tree first, then the kept lookups.
        second = tmp_path / "second"
        work = second / "w"
        work.mkdir(parents=True)
        assert go(["mod", "init", "example.com/scratch"], proxy, vkey, second, work)[0] == 0
        code, _, err = go(["get", "example.com/lib@v1.2.0"], proxy, vkey, second, work)
        assert code == 0, err
        latest = (second / "gopath/pkg/sumdb" / NAME / "latest").read_bytes()
        assert latest == db.note()  # the client's tree is the newest one
        code, _, err = go(["get", "example.com/app@v1.0.0"], proxy, vkey, second, work)
        assert code == 0, err
        code, _, err = go(
            ["mod", "download", "example.com/lib@v1.1.0", "example.com/lib@v1.0.0"],
            proxy,
            vkey,
            second,
            work,
        )
        assert code == 0, err
        code, out, err = go(["mod", "verify"], proxy, vkey, second, work)
        assert code == 0, err
        assert "all modules verified" in out
        assert _get(lookup)[0] == kept
