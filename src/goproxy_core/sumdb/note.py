"""Signed notes: the envelope the checksum database signs its tree heads with.

Owns the note format and its keys (PROTOCOL.md §16): verifier keys
``<name>+<hash>+<base64(0x01 ‖ Ed25519 public key)>``, signer keys
``PRIVATE+KEY+<name>+<hash>+<base64(0x01 ‖ seed)>``, the key hash (first four bytes of
SHA-256(name ‖ ``\\n`` ‖ key)), and the signed message: the text, a blank line, then one
``— <name> <base64(key hash ‖ signature)>`` line per signature.

Ported from golang.org/x/mod ``sumdb/note/note.go``; error texts are Go's, so users can search
for them. Ed25519 comes from ``cryptography``: no hand-written crypto, no randomness and no clock
here (``generate_key`` takes its seed from the caller).
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import ProxyError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "AmbiguousVerifierError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "MalformedNoteError",
    "Note",
    "NoteError",
    "Signature",
    "Signer",
    "UnknownVerifierError",
    "UnverifiedNoteError",
    "Verifier",
    "VerifierList",
    "Verifiers",
    "decode_base64",
    "generate_key",
    "is_valid_name",
    "key_hash",
    "new_ed25519_verifier_key",
    "new_signer",
    "new_verifier",
    "open_note",
    "sign",
]

_ALG_ED25519 = 1
_MAX_SIGNATURES = 100  # Open refuses notes with more signature lines than this
_SIG_PREFIX = "— ".encode()  # U+2014 EM DASH, then a space

# ---------------------------------------------------------------------------------------------
# Errors


class NoteError(ProxyError):
    """A signed note or note key could not be used."""


class InvalidKeyError(NoteError):
    """A verifier or signer key string is malformed (``malformed verifier id``, ...)."""


class MalformedNoteError(NoteError):
    """The message is not a well-formed signed note (Go's ``malformed note``)."""

    def __init__(self, message: str = "malformed note") -> None:
        super().__init__(message)


class UnknownVerifierError(NoteError):
    """No verifier is known for a signature's key name and hash."""

    def __init__(self, name: str, key_hash: int) -> None:
        self.name = name
        self.key_hash = key_hash
        super().__init__(f"unknown key {name}+{key_hash:08x}")


class AmbiguousVerifierError(NoteError):
    """More than one verifier matches a signature's key name and hash."""

    def __init__(self, name: str, key_hash: int) -> None:
        self.name = name
        self.key_hash = key_hash
        super().__init__(f"ambiguous key {name}+{key_hash:08x}")


class InvalidSignatureError(NoteError):
    """A signature by a known key does not verify."""

    def __init__(self, name: str, key_hash: int) -> None:
        self.name = name
        self.key_hash = key_hash
        super().__init__(f"invalid signature for key {name}+{key_hash:08x}")


class UnverifiedNoteError(NoteError):
    """The note is well formed but none of its signatures is by a known key.

    Attributes:
        note: the parsed note; all its signatures are in ``note.unverified_sigs``.
    """

    def __init__(self, note: Note) -> None:
        self.note = note
        super().__init__("note has no verifiable signatures")


# ---------------------------------------------------------------------------------------------
# Helpers

# Go's StdEncoding: padded, standard alphabet, and \r / \n ignored anywhere. binascii's strict
# mode still accepts excess padding ("AAAA=="), so the shape is checked first.
_B64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")

# Name rules: no unicode.IsSpace rune (Go's set, which unlike str.isspace excludes \x1c-\x1f),
# no "+", and valid UTF-8 (surrogates stand for invalid bytes under surrogateescape).
_BAD_NAME_RE = re.compile(
    "[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+\ud800-\udfff]"
)

# Open: every rune must be >= 0x20 except "\n"; UTF-8 validity is checked by decoding.
_NOTE_CONTROL_RE = re.compile(rb"[\x00-\x09\x0b-\x1f]")


def decode_base64(s: str) -> bytes | None:
    """Decode like Go's ``base64.StdEncoding.DecodeString``; None when it would fail."""
    if "\r" in s or "\n" in s:
        s = s.replace("\r", "").replace("\n", "")
    if not _B64_RE.fullmatch(s):
        return None
    return binascii.a2b_base64(s)


def _b64encode(b: bytes) -> str:
    """Standard padded base64, as Go's ``base64.StdEncoding.EncodeToString``."""
    return binascii.b2a_base64(b, newline=False).decode("ascii")


def _parse_hash16(s: str) -> int | None:
    """An 8-digit hex key hash, as Go's ``ParseUint(s, 16, 32)`` with ``len(s) == 8``."""
    if len(s) != 8:
        return None
    try:
        # int() would also take "+", "_" and whitespace, which ParseUint refuses.
        return int(s, 16) if s.isascii() and s.isalnum() else None
    except ValueError:
        return None


def key_hash(name: str, key: bytes) -> int:
    """The 32-bit key hash: the first four bytes (big-endian) of SHA-256(name ‖ "\\n" ‖ key)."""
    h = hashlib.sha256(name.encode("utf-8", "surrogateescape") + b"\n" + key).digest()
    return int.from_bytes(h[:4], "big")


def is_valid_name(name: str) -> bool:
    """Whether ``name`` may name a key: non-empty UTF-8 without spaces or ``+``."""
    return name != "" and _BAD_NAME_RE.search(name) is None


# ---------------------------------------------------------------------------------------------
# Keys


class Verifier:
    """Checks signatures made with one key (x/mod ``note.Verifier``).

    Attributes:
        name: the key (server) name.
        key_hash: the 32-bit key hash.
    """

    __slots__ = ("_public", "key_hash", "name")

    def __init__(self, name: str, key_hash: int, public_key: bytes) -> None:
        self.name = name
        self.key_hash = key_hash
        # Any 32 bytes load (as in Go); a key that is not a curve point just never verifies.
        self._public = Ed25519PublicKey.from_public_bytes(public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` is a valid Ed25519 signature of ``msg`` by this key."""
        if len(sig) != 64:
            return False
        try:
            self._public.verify(sig, msg)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Verifier({self.name}+{self.key_hash:08x})"


class Signer:
    """Signs messages with one Ed25519 key (x/mod ``note.Signer``).

    Attributes:
        name: the key (server) name.
        key_hash: the 32-bit key hash.
    """

    __slots__ = ("_private", "key_hash", "name")

    def __init__(self, name: str, key_hash: int, private_key: Ed25519PrivateKey) -> None:
        self.name = name
        self.key_hash = key_hash
        self._private = private_key

    def sign(self, msg: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``msg`` (deterministic)."""
        return self._private.sign(msg)

    def __repr__(self) -> str:
        return f"Signer({self.name}+{self.key_hash:08x})"


def new_verifier(vkey: str) -> Verifier:
    """Parse a verifier key ``<name>+<hash>+<base64 key>`` (x/mod ``NewVerifier``).

    Args:
        vkey: the verifier key string, e.g. the one in ``GOSUMDB``.

    Returns:
        A :class:`Verifier` for that key.

    Raises:
        InvalidKeyError: ``malformed verifier id``, ``invalid verifier hash`` or
            ``unknown verifier algorithm``.
    """
    name, _, rest = vkey.partition("+")
    hash16, _, key64 = rest.partition("+")
    khash = _parse_hash16(hash16)
    key = decode_base64(key64)
    if khash is None or key is None or not is_valid_name(name) or not key:
        raise InvalidKeyError("malformed verifier id")
    if khash != key_hash(name, key):
        raise InvalidKeyError("invalid verifier hash")
    if key[0] != _ALG_ED25519:
        raise InvalidKeyError("unknown verifier algorithm")
    if len(key) != 33:
        raise InvalidKeyError("malformed verifier id")
    return Verifier(name, khash, key[1:])


def new_signer(skey: str) -> Signer:
    """Parse a signer key ``PRIVATE+KEY+<name>+<hash>+<base64 seed>`` (x/mod ``NewSigner``).

    Args:
        skey: the private key string.

    Returns:
        A :class:`Signer` for that key.

    Raises:
        InvalidKeyError: with Go's texts, which name the verifier even for a signer key.
    """
    priv1, _, rest = skey.partition("+")
    priv2, _, rest = rest.partition("+")
    name, _, rest = rest.partition("+")
    hash16, _, key64 = rest.partition("+")
    khash = _parse_hash16(hash16)
    key = decode_base64(key64)
    if (
        priv1 != "PRIVATE"
        or priv2 != "KEY"
        or khash is None
        or key is None
        or not is_valid_name(name)
        or not key
    ):
        raise InvalidKeyError("malformed verifier id")
    if key[0] != _ALG_ED25519:
        raise InvalidKeyError("unknown verifier algorithm")
    if len(key) != 33:
        raise InvalidKeyError("malformed verifier id")
    private = Ed25519PrivateKey.from_private_bytes(key[1:])
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    # The hash is over the public key, so a signer key proves it matches its verifier.
    if khash != key_hash(name, bytes([_ALG_ED25519]) + public):
        raise InvalidKeyError("invalid verifier hash")
    return Signer(name, khash, private)


def generate_key(name: str, seed: bytes) -> tuple[str, str]:
    """Make a signer/verifier key pair from a 32-byte seed (x/mod ``GenerateKey``).

    The caller supplies the seed (e.g. ``os.urandom(32)``), so the core stays deterministic.

    Args:
        name: the key name, e.g. ``sum.example.com``.
        seed: 32 random bytes, the Ed25519 private key seed.

    Returns:
        ``(skey, vkey)``: the private key string and the verifier key string.

    Raises:
        InvalidKeyError: the name is not a valid key name or the seed is not 32 bytes.
    """
    if not is_valid_name(name):
        raise InvalidKeyError(f"invalid key name {name!r}")
    if len(seed) != 32:
        raise InvalidKeyError(f"invalid seed size {len(seed)}, expected 32")
    private = Ed25519PrivateKey.from_private_bytes(seed)
    pub = bytes([_ALG_ED25519]) + private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    h = key_hash(name, pub)
    priv = bytes([_ALG_ED25519]) + seed
    return f"PRIVATE+KEY+{name}+{h:08x}+{_b64encode(priv)}", f"{name}+{h:08x}+{_b64encode(pub)}"


def new_ed25519_verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string for a raw 32-byte Ed25519 public key.

    Raises:
        InvalidKeyError: the key is not 32 bytes.
    """
    if len(public_key) != 32:
        raise InvalidKeyError(f"invalid public key size {len(public_key)}, expected 32")
    pub = bytes([_ALG_ED25519]) + public_key
    return f"{name}+{key_hash(name, pub):08x}+{_b64encode(pub)}"


@runtime_checkable
class Verifiers(Protocol):
    """A set of known verifiers, looked up by key name and hash (x/mod ``note.Verifiers``)."""

    def verifier(self, name: str, key_hash: int) -> Verifier:
        """The verifier for ``name`` and ``key_hash``.

        Raises:
            UnknownVerifierError: no such key is known.
            AmbiguousVerifierError: more than one is.
        """
        ...


class VerifierList:
    """The :class:`Verifiers` made of a fixed list of keys (x/mod ``VerifierList``)."""

    __slots__ = ("_by_key",)

    def __init__(self, *verifiers: Verifier) -> None:
        self._by_key: dict[tuple[str, int], list[Verifier]] = {}
        for v in verifiers:
            self._by_key.setdefault((v.name, v.key_hash), []).append(v)

    def verifier(self, name: str, key_hash: int) -> Verifier:
        """The verifier for ``name`` and ``key_hash`` (see :class:`Verifiers`)."""
        found = self._by_key.get((name, key_hash))
        if found is None:
            raise UnknownVerifierError(name, key_hash)
        if len(found) > 1:
            # A duplicated key is a configuration mistake; refusing beats guessing.
            raise AmbiguousVerifierError(name, key_hash)
        return found[0]


# ---------------------------------------------------------------------------------------------
# Notes


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line of a note.

    Attributes:
        name: the key name.
        hash: the key hash.
        base64: the base64 of key hash ‖ signature, exactly as in the note.
    """

    name: str
    hash: int
    base64: str


@dataclass(frozen=True, slots=True)
class Note:
    """An opened note (x/mod ``note.Note``).

    Attributes:
        text: the signed text, ending in ``\\n``.
        sigs: signatures that verified.
        unverified_sigs: signatures by unknown keys.
    """

    text: str
    sigs: list[Signature] = field(default_factory=list)
    unverified_sigs: list[Signature] = field(default_factory=list)


def open_note(msg: bytes, verifiers: Verifiers | Iterable[Verifier] | None) -> Note:
    """Parse a signed note and check its signatures (x/mod ``note.Open``).

    Args:
        msg: the whole signed message.
        verifiers: the known keys, as a :class:`Verifiers` or an iterable of :class:`Verifier`.

    Returns:
        The note; at least one signature verified.

    Raises:
        MalformedNoteError: the message is not a signed note.
        InvalidSignatureError: a signature by a known key is wrong.
        AmbiguousVerifierError: a signature matches more than one known key.
        UnverifiedNoteError: no signature is by a known key.
    """
    if verifiers is None:
        known: Verifiers = VerifierList()
    elif isinstance(verifiers, Verifiers):
        known = verifiers
    else:
        known = VerifierList(*verifiers)

    try:
        msg.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNoteError() from None
    if _NOTE_CONTROL_RE.search(msg):
        raise MalformedNoteError()

    # The signatures follow the last blank line; the text keeps its final "\n".
    split = msg.rfind(b"\n\n")
    if split < 0:
        raise MalformedNoteError()
    text, sigs = msg[: split + 1], msg[split + 2 :]
    if not sigs.endswith(b"\n"):
        raise MalformedNoteError()

    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    seen_unverified: set[bytes] = set()
    for count, line in enumerate(sigs.split(b"\n")[:-1], 1):
        if not line.startswith(_SIG_PREFIX):
            raise MalformedNoteError()
        body = line[len(_SIG_PREFIX) :]
        name, _, b64 = body.decode("utf-8").partition(" ")
        sig = decode_base64(b64)
        if sig is None or not is_valid_name(name) or b64 == "" or len(sig) < 5:
            raise MalformedNoteError()
        if count > _MAX_SIGNATURES:
            raise MalformedNoteError()
        khash = int.from_bytes(sig[:4], "big")
        try:
            v = known.verifier(name, khash)
        except UnknownVerifierError:
            if body not in seen_unverified:
                seen_unverified.add(body)
                unverified.append(Signature(name, khash, b64))
            continue
        if v.name != name or v.key_hash != khash:
            raise NoteError("verifier name or hash doesn't match signature")
        if (name, khash) in seen:
            continue
        seen.add((name, khash))
        if not v.verify(text, sig[4:]):
            raise InvalidSignatureError(name, khash)
        verified.append(Signature(name, khash, b64))

    note = Note(text.decode("utf-8"), verified, unverified)
    if not verified:
        raise UnverifiedNoteError(note)
    return note


def sign(note: Note | str, signers: Iterable[Signer]) -> bytes:
    """Sign a note's text, keeping any signatures it already carries (x/mod ``note.Sign``).

    Args:
        note: the text to sign (must end in ``\\n``), or a :class:`Note` whose existing
            signatures are kept unless one of ``signers`` replaces them.
        signers: the keys to sign with.

    Returns:
        The signed message: text, blank line, signature lines.

    Raises:
        MalformedNoteError: the text does not end in ``\\n`` or an existing signature is bad.
        NoteError: ``invalid signer`` for a signer with a bad name.
    """
    if isinstance(note, str):
        note = Note(note)
    if not note.text.endswith("\n"):
        raise MalformedNoteError()
    text = note.text.encode("utf-8", "surrogateescape")

    new_lines: list[bytes] = []
    have: set[tuple[str, int]] = set()
    for s in signers:
        have.add((s.name, s.key_hash))
        if not is_valid_name(s.name):
            raise NoteError("invalid signer")
        sig = s.key_hash.to_bytes(4, "big") + s.sign(text)
        new_lines.append(f"— {s.name} {_b64encode(sig)}\n".encode())

    out = [text, b"\n"]
    # Old signatures first, then the new ones; a re-signing key replaces its old line.
    for old in (*note.sigs, *note.unverified_sigs):
        if not is_valid_name(old.name):
            raise MalformedNoteError()
        if (old.name, old.hash) in have:
            continue
        raw = decode_base64(old.base64)
        if raw is None or len(raw) < 4 or int.from_bytes(raw[:4], "big") != old.hash:
            raise MalformedNoteError()
        out.append(f"— {old.name} {old.base64}\n".encode())
    out.extend(new_lines)
    return b"".join(out)
