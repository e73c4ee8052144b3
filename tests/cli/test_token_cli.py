"""``goproxy token add|ls|rm`` and the tokens file (goproxy_io.tokens): hashes only, written
whole with mode 0600, one-line errors, and the watch that hands a changed file to the core."""

from __future__ import annotations

import json
import stat
import time

import pytest

from goproxy_cli.main import main
from goproxy_core.proxy.auth import Keyring, token_hash
from goproxy_io.tokens import (
    TokenFileError,
    TokenWatch,
    add_token,
    parse_expiry,
    read_tokens,
    write_tokens,
)


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["token", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_prints_once_and_keeps_only_the_hash(tmp_path, capsys):
    code, out, err = _run(
        capsys, "add", "ci", "--scope", "corp.example", "--cache-dir", str(tmp_path)
    )
    assert code == 0
    token = out.strip()
    assert token.startswith("gpt_") and len(token) == 4 + 16 + 1 + 43
    path = tmp_path / "_goproxy" / "tokens.json"
    assert "shown this once" in err and str(path) in err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert token not in text and token.split("_", 2)[2] not in text
    (entry,) = json.loads(text)["tokens"]
    assert entry["sha256"] == token_hash(token)
    assert (entry["name"], entry["scope"], entry["expires"]) == ("ci", "corp.example", 0.0)
    # ls: names, scopes, admin scopes, expiry, creation; never the token or its hash.
    code, out, _ = _run(capsys, "ls", "--cache-dir", str(tmp_path))
    assert code == 0
    assert out.splitlines()[0] == "NAME\tSCOPE\tADMIN\tEXPIRES\tCREATED"
    assert out.splitlines()[1].startswith("ci\tcorp.example\t-\tnever\t")
    assert entry["sha256"] not in out and token not in out


def test_admin_scopes_expiry_and_the_tokens_file_setting(tmp_path, capsys):
    path = tmp_path / "t.json"
    args = ("--tokens-file", str(path))
    assert (
        _run(capsys, "add", "ops", "--admin", "warm,admin:metrics", "--expires", "2d", *args)[0]
        == 0
    )
    (entry,) = read_tokens(path)
    assert entry.admin == ("warm", "metrics")
    assert 2 * 86400 - 60 < entry.expires - time.time() <= 2 * 86400
    out = _run(capsys, "ls", *args)[1]
    assert "admin:warm,admin:metrics" in out


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["add", "ci"], "goproxy: a token named 'ci' exists: remove it first, or pick another"),
        (["add", "bad name"], "goproxy: bad token name 'bad name'"),
        (["add", "-x"], None),  # argparse: not a name
        (["add", "x", "--admin", "root"], "goproxy: unknown admin scope 'root'"),
        (
            ["add", "x", "--expires", "2001-01-01"],
            "goproxy: bad --expires '2001-01-01': that is not in the future",
        ),
        (["add", "x", "--expires", "soon"], "goproxy: bad --expires 'soon'"),
        (["add", "x", "--scope", "a/[x"], "goproxy: scope: malformed pattern"),
        (["rm", "nobody"], "goproxy: no token named 'nobody'"),
    ],
)
def test_one_line_errors(tmp_path, capsys, args, line):
    assert _run(capsys, "add", "ci", "--cache-dir", str(tmp_path))[0] == 0
    if line is None:
        with pytest.raises(SystemExit):
            main(["token", *args, "--cache-dir", str(tmp_path)])
        return
    code, out, err = _run(capsys, *args, "--cache-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith(line) and err.count("\n") == 1, err


def test_rm_removes_and_keeps_the_others(tmp_path, capsys):
    path = tmp_path / "t.json"
    add_token(path, "a")
    add_token(path, "b")
    assert _run(capsys, "rm", "a", "--tokens-file", str(path))[0] == 0
    assert [t.name for t in read_tokens(path)] == ["b"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]  # no temporary file left


def test_expiry_forms():
    now = 1_800_000_000.0
    assert parse_expiry("90m", now) == now + 5400
    day = parse_expiry("2030-01-31", now)
    assert time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(day)) == "2030-02-01T00:00:00"
    assert parse_expiry("2030-01-31T12:00:00+02:00", now) == day - 86400 + 10 * 3600
    with pytest.raises(TokenFileError):
        parse_expiry("0d", now)


def test_the_watch_hands_changes_over_and_keeps_the_last_good_table(tmp_path):
    path = tmp_path / "t.json"
    first = add_token(path, "a")
    ring = Keyring()
    watch = TokenWatch(path, ring)
    try:
        assert ring.table.find(first) is not None
        assert watch.check() is False  # unchanged: not read again
        second = add_token(path, "b")
        assert watch.check() is True
        assert ring.table.find(second) is not None
        path.write_text("{not json")
        assert watch.check() is False
        assert ring.table.find(second) is not None  # the last good table stays
        write_tokens(path, [])
        assert watch.check() is True
        assert ring.table.find(first) is None
    finally:
        watch.close()


def test_an_unreadable_file_is_an_error(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"tokens": 3}')
    with pytest.raises(TokenFileError, match="not a tokens file"):
        read_tokens(path)
    assert read_tokens(tmp_path / "absent.json") == []
