"""Signed notes: the x/mod note tables, mangled keys, signing round trips and Go's error texts."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import ProxyError, error_status
from goproxy_core.sumdb import (
    AmbiguousVerifierError,
    InvalidKeyError,
    InvalidSignatureError,
    MalformedNoteError,
    Note,
    NoteError,
    Signature,
    UnverifiedNoteError,
    Verifier,
    VerifierList,
    decode_base64,
    generate_key,
    is_valid_name,
    key_hash,
    new_ed25519_verifier_key,
    new_signer,
    new_verifier,
    open_note,
    sign,
)

from support import load_vector, vector_str

NOTE = load_vector("note.json")
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
VERIFIER_KEYS = {"peter": PETER_VKEY, "enoch": ENOCH_VKEY}
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)


def _sigs(rows):
    return [Signature(r["name"], int(r["hash"], 16), r["base64"]) for r in rows or []]


@pytest.mark.parametrize("case", NOTE["verifier_keys"], ids=lambda c: c["vkey"])
def test_new_verifier(case):
    if case["err"] is None:
        v = new_verifier(case["vkey"])
        assert v.name == case["name"]
        assert v.key_hash == int(case["key_hash"], 16)
        assert case["name"] in repr(v)
    else:
        with pytest.raises(InvalidKeyError) as exc:
            new_verifier(case["vkey"])
        assert str(exc.value) == case["err"]
        assert error_status(exc.value) == 500


@pytest.mark.parametrize("case", NOTE["signer_keys"], ids=lambda c: c["skey"])
def test_new_signer(case):
    if case["err"] is None:
        s = new_signer(case["skey"])
        assert s.name == case["name"]
        assert s.key_hash == int(case["key_hash"], 16)
        assert case["key_hash"] in repr(s)
    else:
        with pytest.raises(InvalidKeyError, match=f"^{case['err']}$"):
            new_signer(case["skey"])


@pytest.mark.parametrize("case", NOTE["sign"], ids=lambda c: c["text"][:20])
def test_sign(case):
    signer = new_signer(case["skey"])
    if "err" in case:
        with pytest.raises(MalformedNoteError, match=f"^{case['err']}$"):
            sign(case["text"], [signer])
    else:
        assert sign(case["text"], [signer]) == case["signed"].encode()


@pytest.mark.parametrize("case", NOTE["open"], ids=lambda c: c["desc"])
def test_open(case):
    msg = vector_str(case["msg"]).encode("utf-8", "surrogateescape")
    verifiers = [new_verifier(VERIFIER_KEYS[name]) for name in case["verifiers"]]
    if case["err"] is None:
        note = open_note(msg, verifiers)
        assert note.text == case["text"]
        assert note.sigs == _sigs(case["sigs"])
        assert note.unverified_sigs == _sigs(case["unverified_sigs"])
        return
    with pytest.raises(NoteError) as exc:
        open_note(msg, verifiers)
    assert str(exc.value) == case["err"]
    assert isinstance(exc.value, ProxyError)
    assert error_status(exc.value) == 502
    if case.get("unverified_note_error"):
        assert isinstance(exc.value, UnverifiedNoteError)
        assert exc.value.note.text == case["text"]
        assert exc.value.note.sigs == []
        assert exc.value.note.unverified_sigs == _sigs(case["unverified_sigs"])


def _mangled(key: str):
    b = key.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if i != 0 or j != len(b):
                yield b[i:j].decode()
    for i in range(len(b)):
        yield (b[:i] + bytes([b[i] + 1]) + b[i + 1 :]).decode()


def test_mangled_verifier_keys_fail():
    new_verifier(PETER_VKEY)
    for bad in _mangled(PETER_VKEY):
        with pytest.raises(InvalidKeyError):
            new_verifier(bad)


def test_mangled_signer_keys_fail():
    new_signer(PETER_SKEY)
    for bad in _mangled(PETER_SKEY):
        with pytest.raises(InvalidKeyError):
            new_signer(bad)


def test_signer_key_errors():
    # The signer's hash covers the public key: a wrong hash is caught after deriving it.
    with pytest.raises(InvalidKeyError, match=r"^invalid verifier hash$"):
        new_signer(PETER_SKEY.replace("c74f20a3", "c74f20a4"))
    b64 = PETER_SKEY.split("+", 4)[4]  # the key itself may contain "+"
    wrong_alg = "Z" + b64[1:]
    with pytest.raises(InvalidKeyError, match=r"^unknown verifier algorithm$"):
        new_signer(PETER_SKEY.replace(b64, wrong_alg))
    short = base64.b64encode(b"\x01" + b"\x00" * 31).decode()
    with pytest.raises(InvalidKeyError, match=r"^malformed verifier id$"):
        new_signer(PETER_SKEY.replace(b64, short))


def test_verifier_key_hash_is_checked_before_length():
    # Go checks the hash over the whole key first, then the algorithm, then the length.
    key = b"\x01" + b"\x00" * 31
    name = "short"
    vkey = f"{name}+{key_hash(name, key):08x}+{base64.b64encode(key).decode()}"
    with pytest.raises(InvalidKeyError, match=r"^malformed verifier id$"):
        new_verifier(vkey)


_note_lines = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60
).map(lambda s: s + "\n")


@given(st.binary(min_size=32, max_size=32), _note_lines)
def test_generate_key_round_trip(seed, body):
    skey, vkey = generate_key("EnochRoot", seed)
    assert (skey, vkey) == generate_key("EnochRoot", seed)  # deterministic
    signer, verifier = new_signer(skey), new_verifier(vkey)
    assert signer.name == verifier.name == "EnochRoot"
    assert signer.key_hash == verifier.key_hash
    msg = sign(body, [signer])
    note = open_note(msg, [verifier])
    assert note.text == body
    assert [s.name for s in note.sigs] == ["EnochRoot"]


def test_signer_and_verifier_agree():
    signer, verifier = new_signer(PETER_SKEY), new_verifier(PETER_VKEY)
    sig = signer.sign(b"hi")
    assert verifier.verify(b"hi", sig)
    assert not verifier.verify(b"hi", bytes([sig[0] ^ 1]) + sig[1:])
    assert not verifier.verify(b"ho", sig)
    assert not verifier.verify(b"hi", sig[:-1])


def test_generate_key_rejects_bad_input():
    with pytest.raises(InvalidKeyError):
        generate_key("bad name", b"\x00" * 32)
    with pytest.raises(InvalidKeyError, match="seed size 31"):
        generate_key("ok", b"\x00" * 31)


def test_new_ed25519_verifier_key():
    v = new_verifier(PETER_VKEY)
    raw = decode_base64(PETER_VKEY.split("+", 2)[2])
    assert raw is not None
    assert new_ed25519_verifier_key("PeterNeumann", raw[1:]) == PETER_VKEY
    assert v.key_hash == 0xC74F20A3
    with pytest.raises(InvalidKeyError, match="invalid public key size 33, expected 32"):
        new_ed25519_verifier_key("PeterNeumann", raw)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("PeterNeumann", True),
        ("sum.example.org", True),
        ("a\x1cb", True),  # Go's unicode.IsSpace does not include the separators
        ("", False),
        ("a b", False),
        ("a+b", False),
        ("a\u00a0b", False),
        ("a\u3000b", False),
        ("a\udcffb", False),  # invalid UTF-8 (surrogateescape)
    ],
)
def test_is_valid_name(name, ok):
    assert is_valid_name(name) is ok


@pytest.mark.parametrize(
    ("s", "want"),
    [
        ("", b""),
        ("AA==", b"\x00"),
        ("AAA=", b"\x00\x00"),
        ("AA\r\n==", b"\x00"),  # Go skips CR and LF
        ("AA", None),
        ("AA=", None),
        ("AAAA==", None),
        ("=AAA", None),
        ("AA=A", None),
        ("AA-_", None),
    ],
)
def test_b64decode_matches_go(s, want):
    assert decode_base64(s) == want


def test_open_without_verifiers_is_unverified():
    msg = sign(TEXT, [new_signer(PETER_SKEY)])
    with pytest.raises(UnverifiedNoteError) as exc:
        open_note(msg, None)
    assert exc.value.note.unverified_sigs[0].name == "PeterNeumann"


def test_open_accepts_a_verifiers_object():
    msg = sign(TEXT, [new_signer(PETER_SKEY)])
    note = open_note(msg, VerifierList(new_verifier(PETER_VKEY)))
    assert note.sigs[0].hash == 0xC74F20A3


def test_open_rejects_mismatched_verifier():
    class Liar:
        def verifier(self, name: str, key_hash: int) -> Verifier:
            return new_verifier(ENOCH_VKEY)

    msg = sign(TEXT, [new_signer(PETER_SKEY)])
    with pytest.raises(NoteError, match=r"^verifier name or hash doesn't match signature$"):
        open_note(msg, Liar())


def test_ambiguous_and_invalid_signature_errors_carry_the_key():
    msg = sign(TEXT, [new_signer(PETER_SKEY)])
    peter = new_verifier(PETER_VKEY)
    with pytest.raises(AmbiguousVerifierError) as amb:
        open_note(msg, [peter, peter])
    assert (amb.value.name, amb.value.key_hash) == ("PeterNeumann", 0xC74F20A3)
    bad = msg[:-20] + bytes([msg[-20] ^ 0x20]) + msg[-19:]  # flip case inside the signature
    with pytest.raises(InvalidSignatureError) as inv:
        open_note(bad, [peter])
    assert (inv.value.name, inv.value.key_hash) == ("PeterNeumann", 0xC74F20A3)


def test_open_rejects_signature_lines_without_base64():
    with pytest.raises(MalformedNoteError):
        open_note(TEXT.encode() + "\n— PeterNeumann\n".encode(), [])
    with pytest.raises(MalformedNoteError):  # shorter than hash + 1 byte
        open_note(TEXT.encode() + "\n— PeterNeumann AAAAAA==\n".encode(), [])


def test_sign_keeps_other_signatures_and_replaces_own():
    peter = new_signer(PETER_SKEY)
    other_skey, _ = generate_key("Other", b"\x07" * 32)
    other = new_signer(other_skey)
    first = open_note(sign(TEXT, [peter]), [new_verifier(PETER_VKEY)])
    both = sign(first, [other])
    lines = both.decode().split("\n")
    assert lines[-3].startswith("— PeterNeumann ")
    assert lines[-2].startswith("— Other ")
    # Re-signing with Peter drops the old Peter line and appends the new one.
    again = sign(first, [peter])
    assert again.count(b"PeterNeumann") == 1


def test_sign_rejects_bad_signers_and_signatures():
    class BadName:
        name = "bad name"
        key_hash = 1

        def sign(self, msg: bytes) -> bytes:
            return b"\x00" * 64

    with pytest.raises(NoteError, match=r"^invalid signer$"):
        sign(TEXT, [BadName()])  # type: ignore[list-item]
    for bad in [
        Signature("bad name", 1, "AAAAAQ=="),
        Signature("ok", 1, "!!!!"),
        Signature("ok", 1, "AAA="),
        Signature("ok", 2, "AAAAAQ=="),
    ]:
        with pytest.raises(MalformedNoteError):
            sign(Note(TEXT, [bad]), [])
    assert sign(Note(TEXT, [], [Signature("ok", 1, "AAAAAQ==")]), []).endswith(
        "— ok AAAAAQ==\n".encode()
    )
