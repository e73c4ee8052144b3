"""A cache laid out for offline serving, as an import leaves it (the air-gap cache-tree contract).

``offline_cache(mods)`` makes fixture modules (``.info``, ``.mod``, ``.zip``), logs them in a
``FixtureDB`` and returns every file a ready cache holds, by store key: the version files, each
version's proof (``<module>/@v/<version>.lookup``: record + the head's signed note), and under
``sumdb/<name>/`` the ``supported`` marker, ``latest`` (the head), the hash and data tiles, and
the lookups composed with the head; ``_goproxy/sumdb/<name>/verified-tree`` is the head too.
``fill(store, files)`` puts them in a store, ``write(root, files)`` on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from goproxy_core.module.escape import escape_path, escape_version
from goproxy_core.proxy import keys
from sumdbfix import FixtureDB

from support import make_zip

NAME = "sumdb.test"
T = "2024-01-02T03:04:05Z"

MODS = [
    ("example.com/lib", "v1.0.0", "module example.com/lib\n\ngo 1.21\n", "package lib\n"),
    ("example.com/lib", "v1.1.0", "module example.com/lib\n\ngo 1.21\n", "package lib // 1.1\n"),
    (
        "example.com/app",
        "v1.0.0",
        "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v1.1.0\n",
        'package app\n\nimport _ "example.com/lib"\n\nfunc Hello() string { return "hi" }\n',
    ),
]


def module_files(mod: str, version: str, gomod: str, src: str, time: str = T) -> dict[str, bytes]:
    """The ``.info``, ``.mod`` and ``.zip`` of one version, by store key."""
    ep, ev = escape_path(mod), escape_version(version)
    name = "a.go" if not src.startswith("package main") else "main.go"
    return {
        keys.version_key(ep, ev, "info"): json.dumps({"Version": version, "Time": time}).encode(),
        keys.version_key(ep, ev, "mod"): gomod.encode(),
        keys.version_key(ep, ev, "zip"): make_zip(
            mod, version, {"go.mod": gomod.encode(), name: src.encode()}
        ),
    }


def offline_cache(
    mods: list[tuple[str, str, str, str]] = MODS, db: FixtureDB | None = None
) -> tuple[dict[str, bytes], FixtureDB]:
    """Every file of a cache ready for offline serving of ``mods``, and the database."""
    db = db or FixtureDB(NAME)
    files: dict[str, bytes] = {}
    for mod, version, gomod, src in mods:
        got = module_files(mod, version, gomod, src)
        files.update(got)
        ep, ev = escape_path(mod), escape_version(version)
        db.add(mod, version, gomod.encode(), got[keys.version_key(ep, ev, "zip")])
    db.publish()
    served = db.files()
    for path, data in served.items():
        files[keys.sumdb_key(db.name, path)] = data
    for mod, version, _, _ in mods:
        ep, ev = escape_path(mod), escape_version(version)
        files[keys.proof_key(ep, ev)] = served[f"lookup/{ep}@{ev}"]
    files[keys.sumdb_tree_key(db.name)] = db.note()
    return files, db


def fill(store, files: dict[str, bytes]) -> None:
    for key, data in files.items():
        store.put(key, data)


def write(root: Path, files: dict[str, bytes]) -> None:
    for key, data in files.items():
        f = root / key
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
