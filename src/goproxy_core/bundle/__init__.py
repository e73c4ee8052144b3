"""Bundles: carrying a cache across an air gap with the proofs of every file.

* :mod:`.manifest`: the format (one tar, ``manifest.json`` first) and its parser.
* :mod:`.plan`: what an export takes: versions from go.sum files, the tiles that prove them.
* :mod:`.check`: the import's verification, and the cache-tree files it then writes.

The frontend (``goproxy export`` / ``goproxy import``, ``goproxy_cli.bundle``) reads and
writes the tar, hashes members off any event loop, stages and publishes them.
"""

from __future__ import annotations

from .check import ImportCheck, ImportPlan, MemberFacts, Write
from .manifest import (
    FORMAT,
    MANIFEST_NAME,
    MAX_MANIFEST,
    BundleError,
    Database,
    FileEntry,
    Manifest,
    RecordRef,
    VersionEntry,
    encode_manifest,
    parse_manifest,
)
from .plan import TILE_HEIGHT, parse_gosum, proof_tiles

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "MAX_MANIFEST",
    "TILE_HEIGHT",
    "BundleError",
    "Database",
    "FileEntry",
    "ImportCheck",
    "ImportPlan",
    "Manifest",
    "MemberFacts",
    "RecordRef",
    "VersionEntry",
    "Write",
    "encode_manifest",
    "parse_gosum",
    "parse_manifest",
    "proof_tiles",
]
