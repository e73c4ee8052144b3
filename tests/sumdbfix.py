"""A checksum database for tests, built with the core's own note and tlog code.

``FixtureDB`` holds a log of go.sum records signed with a key made from a seed. ``files()``
is every file the database serves (``supported``, ``latest``, ``lookup/...``, hash and data
tiles, partial tiles of every size it published), by path; ``routes(base)`` is the same as a
``ScriptedUpstream`` table; ``write(dir)`` lays it out on disk, so a ``file://`` upstream tree
holding ``sumdb/<name>/...`` serves it the way a proxy mirrors a database.
"""

from __future__ import annotations

from pathlib import Path

from goproxy_core.module.escape import escape_path, escape_version
from goproxy_core.sumdb import (
    Tile,
    Tree,
    format_record,
    format_tree,
    generate_key,
    hash_gomod,
    hash_zip,
    new_signer,
    new_tiles,
    read_tile_data,
    sign,
    stored_hash_index,
    stored_hashes,
    tile_path,
    tree_hash,
)

HEIGHT = 8


class FixtureDB:
    """A growing checksum database: add versions, publish, serve its files."""

    def __init__(self, name: str = "sumdb.test", seed: bytes = b"s" * 32) -> None:
        self.name = name
        skey, self.vkey = generate_key(name, seed)
        self._signer = new_signer(skey)
        self.records: list[bytes] = []
        self._ids: dict[str, int] = {}
        self._hashes: list[bytes] = []
        self._files: dict[str, bytes] = {"supported": b""}
        self.publish()

    def _read(self, indexes):
        return [self._hashes[i] for i in indexes]

    def add(self, module: str, version: str, mod: bytes, zip_bytes: bytes) -> bytes:
        """Append the go.sum lines of one version (its zip and .mod hashes); returns them."""
        import io

        text = (
            f"{module} {version} {hash_zip(io.BytesIO(zip_bytes))}\n"
            f"{module} {version}/go.mod {hash_gomod(mod)}\n"
        ).encode()
        return self.add_record(f"{module}@{version}", text)

    def add_record(self, key: str, text: bytes) -> bytes:
        n = len(self.records)
        self._hashes.extend(stored_hashes(n, text, self._read))
        assert len(self._hashes) == stored_hash_index(0, n + 1)
        self.records.append(text)
        self._ids[key] = n
        return text

    @property
    def tree(self) -> Tree:
        n = len(self.records)
        return Tree(n, tree_hash(n, self._read))

    def note(self) -> bytes:
        return sign(format_tree(self.tree).decode(), [self._signer])

    def publish(self) -> None:
        """Sign the current tree; write ``latest``, the lookups and the new tiles."""
        n = len(self.records)
        note = self.note()
        self._files["latest"] = note
        for key, i in self._ids.items():
            module, version = key.split("@")
            path = f"lookup/{escape_path(module)}@{escape_version(version)}"
            self._files[path] = format_record(i, self.records[i]) + note
        for t in new_tiles(HEIGHT, 0, n):
            self._files[tile_path(t)] = read_tile_data(t, self._read)
            if t.L == 0:
                start = t.N << HEIGHT
                data = b"".join(r + b"\n" for r in self.records[start : start + t.W])
                self._files[tile_path(Tile(HEIGHT, -1, t.N, t.W))] = data

    def files(self) -> dict[str, bytes]:
        return dict(self._files)

    def routes(self, base: str) -> dict[str, tuple[int, bytes]]:
        return {f"{base}/{p}": (200, d) for p, d in self._files.items()}

    def publish_in(self, tree: Path) -> None:
        """Publish, and lay the database out in an upstream ``tree`` (``tree/sumdb/<name>``),
        where the go command and the proxy find it through that upstream."""
        self.publish()
        self.write(tree / "sumdb" / self.name)

    def write(self, root: Path) -> None:
        """Lay the files out under ``root`` (e.g. ``tree / "sumdb" / name``)."""
        for p, d in self._files.items():
            f = root / p
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(d)


APP_AND_LIB = [
    ("example.com/lib", "v1.0.0", "module example.com/lib\n\ngo 1.21\n", "package lib\n"),
    (
        "example.com/app",
        "v1.0.0",
        "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v1.0.0\n",
        'package app\n\nimport _ "example.com/lib"\n',
    ),
]
"""Two modules, the app requiring the lib: (module, version, go.mod, its one .go file)."""


def app_and_lib(tree: Path, name: str) -> tuple[FixtureDB, dict[str, bytes]]:
    """:data:`APP_AND_LIB` laid out in an upstream ``tree`` with a checksum database ``name``
    published in it: the database, and each module's zip."""
    db = FixtureDB(name)
    zips = {}
    for mod, version, gomod, src in APP_AND_LIB:
        zips[mod] = add_version(tree, db, mod, version, gomod, {"a.go": src})
    db.publish_in(tree)
    return db, zips


def add_version(
    tree: Path,
    db: FixtureDB | None,
    module: str,
    version: str,
    gomod: str,
    files: dict[str, str],
    time: str = "2024-01-02T03:04:05Z",
) -> bytes:
    """Lay one version out in an upstream ``tree`` (``.info``, ``.mod``, ``.zip`` with the
    go.mod and ``files``, a line in ``list``) and log it in ``db``; returns the zip."""
    import json

    from support import make_zip

    d = tree / module / "@v"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{version}.info").write_text(json.dumps({"Version": version, "Time": time}))
    (d / f"{version}.mod").write_text(gomod)
    z = make_zip(module, version, {"go.mod": gomod, **files})
    (d / f"{version}.zip").write_bytes(z)
    with (d / "list").open("a") as f:
        f.write(version + "\n")
    if db is not None:
        db.add(module, version, gomod.encode(), z)
    return z
