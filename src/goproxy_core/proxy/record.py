"""Version records: what the proxy knew of a version's files when it stored them.

One record per version, at :func:`~goproxy_core.proxy.keys.record_key`
(``<module>/@v/<version>.record``, msgspec JSON), written by the engine only after the file
it describes was committed. For the ``.mod`` and the ``.zip`` each it keeps the ``h1:`` hash
(x/mod ``dirhash``), the size, a SHA-256 of the bytes as stored (the zip's ETag: the ``h1:``
hashes a zip's files, not its bytes, so two zips of one tree can share an ``h1:``), the
upstream it came from, when, and against which checksum database it was verified, or why it
was not (``private``, ``nosumdb``, ``no database``). The database's proof itself stays
beside, at :func:`~goproxy_core.proxy.keys.proof_key` (the verified ``/lookup/`` body): it is
written before the files, one proof serves both, and the ingest flow already reads it there.

``goproxy verify`` reads records back: a file whose bytes no longer hash to its record, or
whose record says "verified" without a proof that verifies and holds its ``h1:``, is
quarantined. A version stored before records existed has none; the verifier checks what it
can (the zip's rules, the proof if kept) and, asked to repair, writes one.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "MAX_RECORD",
    "UNVERIFIED_NOSUMDB",
    "UNVERIFIED_NO_DATABASE",
    "UNVERIFIED_PRIVATE",
    "FileRecord",
    "VersionRecord",
    "decode_record",
    "encode_record",
    "etag_for_digest",
]

MAX_RECORD = 64 * 1024
"""The largest record read back (a record is a few hundred bytes)."""

UNVERIFIED_PRIVATE = "private"
"""The module matches ``private``: its name never reaches a checksum database."""
UNVERIFIED_NOSUMDB = "nosumdb"
"""The module matches ``nosumdb``: not looked up, as the go command's ``GONOSUMDB``."""
UNVERIFIED_NO_DATABASE = "no database"
"""No checksum database is configured (``sumdb = off``)."""


class FileRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One stored file of a version (its ``.mod`` or ``.zip``) as it was committed.

    Attributes:
        h1: its ``h1:`` hash in go.sum form (x/mod ``dirhash``).
        size: its length in bytes.
        sha256: the SHA-256 of its bytes, in hex (the ETag of a stored zip).
        upstream: where it came from (an upstream URL, or ``direct (version control)``).
        time: when it was committed, seconds since the epoch.
        sumdb: the checksum database whose proof holds ``h1``; "" when not verified.
        unverified: why it was not verified (``private``, ``nosumdb``, ``no database``); ""
            when ``sumdb`` is set.
        stored: the store's time of storing it (``BlobInfo.mtime``; 0 when not known). A
            zip's ETag is taken from ``sha256`` only while the stored zip has this time and
            ``size``: a zip replaced behind the proxy's back is not described by the record.
    """

    h1: str
    size: int
    sha256: str
    upstream: str
    time: float
    sumdb: str = ""
    unverified: str = ""
    stored: float = 0.0


class VersionRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The record of one version: its module, version, and what is known of each file."""

    module: str
    version: str
    mod: FileRecord | None = None
    zip: FileRecord | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(VersionRecord)


def encode_record(record: VersionRecord) -> bytes:
    """The stored form of ``record`` (msgspec JSON)."""
    return _encoder.encode(record)


def decode_record(data: bytes) -> VersionRecord | None:
    """A record read back, or None when ``data`` is not one (damaged, or of another format)."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def etag_for_digest(sha256: str) -> str:
    """The strong ETag of a stored file whose bytes hash to ``sha256`` (hex)."""
    return f'"{sha256[:32]}"'
