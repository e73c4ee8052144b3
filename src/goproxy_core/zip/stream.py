"""Following a module zip as its bytes arrive: each entry inflated, CRC'd and hashed in order.

A zip is read by its central directory, at its end; waiting for that puts the whole check
after the download. But the entries come first, each behind a local header, so a reader fed
the bytes in order can inflate each one as it lands, and compute what the check needs of it:
its content's length, CRC-32 and SHA-256 (x/mod ``dirhash.HashZip`` hashes each file's
content). :class:`ZipFollower` does that, fed bytes by its caller (no I/O here).

What it finds is a hint, never a verdict. :func:`goproxy_core.zip.check_zip` takes the
entries it recorded (``streamed``) and uses one only where the central directory names the
same local header offset, method and CRC-32, a size equal to what the entry inflated to, and
a compressed size that covers exactly the bytes the entry's data took: then reading that
entry at random, as archive/zip does, reads the same bytes and computes the same things, so
the recorded digest stands in for it. Everything else (an entry after a data descriptor the
follower could not step over, a method other than store and deflate, a stored entry of
unknown length, a stream that fails to inflate, an entry the central directory places or
sizes differently, anything after garbage) is simply not recorded or not matched, and is read
at random as before: the verdict and the ``h1:`` are the same either way.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Final, NamedTuple

from ..sumdb.dirhash import CHUNK_SIZE
from .rules import MAX_ZIP_FILE

__all__ = ["StreamedEntry", "ZipFollower"]

_LOCAL: Final = struct.Struct("<4s5HL2L2H")
_LOCAL_MAGIC: Final = b"PK\x03\x04"
_DESCRIPTOR_MAGIC: Final = b"PK\x07\x08"
_STORED: Final = 0
_DEFLATED: Final = 8
_FLAG_DESCRIPTOR: Final = 0x8
_UNKNOWN32: Final = 0xFFFFFFFF  # a zip64 size: the real one is in an extra field
# Where the next local header may start after a data descriptor: with or without its
# signature, with 4-byte or (zip64) 8-byte sizes.
_DESCRIPTOR_SIZES: Final = (16, 12, 24, 20)


class StreamedEntry(NamedTuple):
    """An entry the follower read whole.

    Attributes:
        offset: where its local header starts in the zip.
        method: 0 (stored) or 8 (deflated), from its local header.
        consumed: the bytes its data took after the header (deflate: up to the stream's end).
        size: the bytes it inflated to.
        crc: their CRC-32.
        digest: their SHA-256, hex.
    """

    offset: int
    method: int
    consumed: int
    size: int
    crc: int
    digest: str


class ZipFollower:
    """Reads a zip fed in order (:meth:`feed`), recording each entry it can read whole.

    Args:
        max_output: the most bytes it inflates in all (a zip may declare no more content:
            x/mod ``zip.MaxZipFile``); past it, it stops recording.

    The recorded entries are :attr:`entries`, by local header offset. Memory stays bounded:
    at most one fed chunk and one inflated piece (``CHUNK_SIZE``) are held.
    """

    def __init__(self, max_output: int = MAX_ZIP_FILE) -> None:
        self.entries: dict[int, StreamedEntry] = {}
        self._buf: bytes | bytearray = bytearray()
        self._base = 0  # the zip offset of _buf[0]
        self._budget = max_output
        self._done = False
        self._state = self._header
        # The entry being read.
        self._offset = 0
        self._method = 0
        self._flags = 0
        self._left = 0  # stored: bytes still to read; deflated: the most it may still take
        self._want_size = 0  # the local header's size (0 with a data descriptor: unknown)
        self._fed = 0
        self._size = 0
        self._crc = 0
        self._sha = hashlib.sha256()
        self._inflater: zlib._Decompress | None = None

    @property
    def done(self) -> bool:
        """The follower stopped: nothing it is fed from now on is recorded."""
        return self._done

    def feed(self, data: bytes) -> None:
        """The next bytes of the zip."""
        if self._done or not data:
            return
        if self._buf or type(data) is not bytes:
            self._buf += data
        else:
            # Nothing is left over from the last chunk (the usual case): read this one where
            # it is instead of copying it, and copy only what it leaves over. (Only an
            # immutable chunk: a caller's bytearray may change after this returns.)
            self._buf = data
        pos = 0
        while not self._done:
            used = self._state(pos)
            if used is None:
                break
            pos = used
        self._base += pos
        if isinstance(self._buf, bytearray):
            del self._buf[:pos]
        else:
            with memoryview(self._buf) as view, view[pos:] as rest:
                self._buf = bytearray(rest)

    def _stop(self) -> None:
        self._done = True
        self._buf = bytearray()
        self._inflater = None

    def _header(self, pos: int) -> int | None:
        buf = self._buf
        if len(buf) - pos < _LOCAL.size:
            return None
        (magic, _, flags, method, _, _, crc, csize, usize, nlen, xlen) = _LOCAL.unpack_from(
            buf, pos
        )
        del crc
        if magic != _LOCAL_MAGIC or method not in (_STORED, _DEFLATED):
            self._stop()  # the central directory, or something this follower does not read
            return None
        data: int = pos + _LOCAL.size + nlen + xlen
        if len(buf) < data:
            return None
        descriptor = bool(flags & _FLAG_DESCRIPTOR)
        if method == _STORED and (descriptor or csize == _UNKNOWN32):
            self._stop()  # where it ends is written only after it
            return None
        self._offset = self._base + pos
        self._method = method
        self._flags = flags
        self._left = -1 if descriptor or csize == _UNKNOWN32 else csize
        self._want_size = -1 if descriptor or usize == _UNKNOWN32 else usize
        self._fed = 0
        self._size = 0
        self._crc = 0
        self._sha = hashlib.sha256()
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) if method == _DEFLATED else None
        self._state = self._stored if method == _STORED else self._deflated
        return data

    def _take(self, piece: bytes | memoryview) -> bool:
        """Count an inflated piece; False when the follower must stop."""
        n = len(piece)
        self._budget -= n
        if self._budget < 0 or (self._want_size >= 0 and self._size + n > self._want_size):
            self._stop()
            return False
        self._size += n
        self._crc = zlib.crc32(piece, self._crc)
        self._sha.update(piece)
        return True

    def _record(self) -> None:
        self.entries[self._offset] = StreamedEntry(
            self._offset, self._method, self._fed, self._size, self._crc, self._sha.hexdigest()
        )

    def _stored(self, pos: int) -> int | None:
        avail = len(self._buf) - pos
        n = min(avail, self._left)
        if n:
            with memoryview(self._buf) as view, view[pos : pos + n] as piece:
                ok = self._take(piece)
            if not ok:
                return None
            self._fed += n
            self._left -= n
        if self._left:
            return None if n == 0 else pos + n
        self._record()
        self._state = self._header
        return pos + n

    def _deflated(self, pos: int) -> int | None:
        inflater = self._inflater
        assert inflater is not None
        avail = len(self._buf) - pos
        if avail == 0:
            return None
        n = avail if self._left < 0 else min(avail, self._left)
        if n == 0:
            self._stop()  # the local header's compressed size ended before the stream did
            return None
        with memoryview(self._buf) as view, view[pos : pos + n] as data:
            try:
                out = inflater.decompress(data, CHUNK_SIZE)
                while True:
                    if out and not self._take(out):
                        return None
                    if not inflater.unconsumed_tail or inflater.eof:
                        break
                    out = inflater.decompress(inflater.unconsumed_tail, CHUNK_SIZE)
            except zlib.error:
                self._stop()
                return None
        used = n - len(inflater.unused_data) - len(inflater.unconsumed_tail)
        self._fed += used
        if self._left >= 0:
            self._left -= used
        if not inflater.eof:
            return pos + used
        self._inflater = None
        self._record()
        self._state = self._descriptor if self._flags & _FLAG_DESCRIPTOR else self._header
        return pos + used

    def _descriptor(self, pos: int) -> int | None:
        """Step over a data descriptor to the next local header, if one is found."""
        buf = self._buf
        if len(buf) - pos < max(_DESCRIPTOR_SIZES) + 4:
            return None  # the end of the zip is near: only its directory is left to come
        signed = buf[pos : pos + 4] == _DESCRIPTOR_MAGIC
        for skip in _DESCRIPTOR_SIZES:
            if (skip in (16, 24)) != signed:
                continue
            if buf[pos + skip : pos + skip + 4] == _LOCAL_MAGIC:
                self._state = self._header
                return pos + skip
        self._stop()
        return None
