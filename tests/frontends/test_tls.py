"""goproxy_io/tls.py alone: the server context, its errors, the reloadable holder, the first
byte's check and the answer to plain HTTP."""

from __future__ import annotations

import contextlib
import logging
import os
import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_io.tls import (
    GARBAGE,
    PLAIN_HTTP,
    TLS,
    TLSFileError,
    TLSHolder,
    first_byte_kind,
    plain_http_answer,
    server_context,
)

from tlsfix import TestCA, tls_ca, tls_files  # noqa: F401 - fixtures


def test_the_context_is_modern_and_speaks_http_1_1(tls_files):  # noqa: F811
    ctx = server_context(str(tls_files.cert), str(tls_files.key))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_NONE  # no client certificates asked for
    assert ctx.options & ssl.OP_NO_COMPRESSION
    # ALPN is offered: a client asking for http/1.1 gets it (see the server tests).


def test_a_chain_file_is_served_whole(tls_ca, tmp_path):  # noqa: F811
    inter = tls_ca.ca.create_child_ca()
    issued = inter.issue_cert("127.0.0.1")
    cert, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.write_bytes(b"".join(b.bytes() for b in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    assert len(issued.cert_chain_pems) == 2  # the leaf and the intermediate
    ctx = server_context(str(cert), str(key))
    # A client trusting only the root verifies the leaf through the intermediate sent along.
    client = tls_ca.client_context()
    incoming_c, outgoing_c = ssl.MemoryBIO(), ssl.MemoryBIO()
    incoming_s, outgoing_s = ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(incoming_c, outgoing_c, server_hostname="127.0.0.1")
    s = ctx.wrap_bio(incoming_s, outgoing_s, server_side=True)
    for _ in range(10):
        for side in (c, s):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        incoming_s.write(outgoing_c.read())
        incoming_c.write(outgoing_s.read())
    c.do_handshake()
    assert c.getpeercert()["subjectAltName"] == (("IP Address", "127.0.0.1"),)


def _errors(tmp_path, files):
    other = TestCA(tmp_path / "other").issue()
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(os.urandom(300))
    fake_cert = tmp_path / "fake-cert.pem"
    fake_cert.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    fake_key = tmp_path / "fake-key.pem"
    fake_key.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    unreadable = garbage / "cert.pem"  # under a file: open fails whoever runs the test
    cert, key = str(files.cert), str(files.key)
    rows = [
        (str(tmp_path / "missing.pem"), key, "tls-cert", "no such file"),
        (cert, str(tmp_path / "missing.pem"), "tls-key", "no such file"),
        (str(tmp_path), key, "tls-cert", "a directory, not a file"),
        (str(garbage), key, "tls-cert", "not PEM: no certificate in it"),
        (cert, str(garbage), "tls-key", "not PEM: no private key in it"),
        (key, key, "tls-cert", "not PEM: no certificate in it"),
        (cert, cert, "tls-key", "not PEM: no private key in it"),
        (str(fake_cert), key, "tls-cert", "not a valid PEM certificate"),
        (cert, str(fake_key), "tls-key", "not a valid PEM private key"),
        (cert, str(other.key), "tls-key", "does not match the certificate of tls-cert"),
        (str(unreadable), key, "tls-cert", "cannot be read: Not a directory"),
    ]
    return rows


def test_bad_files_are_one_line_naming_the_setting_and_file(tls_files, tmp_path):  # noqa: F811
    for cert, key, name, what in _errors(tmp_path, tls_files):
        with pytest.raises(TLSFileError) as e:
            server_context(cert, key)
        text = str(e.value)
        assert e.value.key == name, text
        assert text.startswith(f"{name}: {what}"), text
        path = cert if name == "tls-cert" else key
        assert f"(got {path!r}; want " in text, text
        assert "\n" not in text and "_ssl.c" not in text, text


def test_the_holder_reloads_into_a_new_context(tls_ca, tls_files, caplog):  # noqa: F811
    holder = TLSHolder(str(tls_files.cert), str(tls_files.key))
    first = holder.context
    tls_ca.issue(cert=tls_files.cert, key=tls_files.key)
    with caplog.at_level(logging.INFO, logger="goproxy.tls"):
        assert holder.reload()
    assert holder.context is not first and holder.reloads == 1
    assert any("reloaded" in r.getMessage() for r in caplog.records)


def test_a_failed_reload_keeps_the_old_context_and_logs_one_line(tls_files, caplog):  # noqa: F811
    holder = TLSHolder(str(tls_files.cert), str(tls_files.key))
    first = holder.context
    tls_files.key.write_text("garbage\n")
    with caplog.at_level(logging.INFO, logger="goproxy.tls"):
        assert not holder.reload()
    assert holder.context is first and holder.reloads == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "goproxy.tls"]
    assert len(lines) == 1, lines
    assert str(tls_files.key) in lines[0] and "tls-key" in lines[0] and "not PEM" in lines[0]
    assert "\n" not in lines[0]


def test_the_holder_refuses_bad_files_at_start(tmp_path):
    with pytest.raises(TLSFileError):
        TLSHolder(str(tmp_path / "no-cert.pem"), str(tmp_path / "no-key.pem"))


def test_first_byte_kinds():
    assert first_byte_kind(b"\x16") == TLS
    for method in (b"G", b"P", b"H", b"D", b"O", b"C", b"g"):
        assert first_byte_kind(method) == PLAIN_HTTP
    assert first_byte_kind(b"") == GARBAGE
    assert first_byte_kind(b"\x80") == GARBAGE  # an SSLv2-style hello: refused too


@given(st.binary(min_size=1, max_size=1))
def test_first_byte_kind_is_total(b):
    kind = first_byte_kind(b)
    assert kind == (TLS if b == b"\x16" else PLAIN_HTTP if b.isalpha() else GARBAGE)


def test_the_plain_http_answer():
    answer = plain_http_answer(("127.0.0.1", 8443))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert body == b"this port speaks HTTPS: use https://127.0.0.1:8443\n"
    assert f"Content-Length: {len(body)}".encode() in head
    assert b"Connection: close" in head
    assert b"https://[::1]:1/" not in answer
    assert plain_http_answer(("::", 1, 0, 0)).endswith(b"use https://[::1]:1\n")
    assert plain_http_answer(("0.0.0.0", 2)).endswith(b"use https://127.0.0.1:2\n")
    assert plain_http_answer(("fe80::1", 3, 0, 0)).endswith(b"use https://[fe80::1]:3\n")
