"""Tokens, who may read what, and the audit marks: goproxy_core.proxy.auth through the engine."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core.proxy import ProxyConfig, ProxyConnection
from goproxy_core.proxy.auth import (
    WWW_AUTHENTICATE,
    AuthError,
    Keyring,
    Token,
    TokenTable,
    identify,
    parse_authorization,
    split_token,
    token_hash,
)
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange

from support import parse_responses

UP = "https://up.example"
PUB = "example.com/pub"
SECRET = "corp.example/secret"
OTHER = "corp.example/other"
T_READ = "gpt_0123456789abcdef_" + "s" * 43
T_ADMIN = "gpt_fedcba9876543210_" + "a" * 43
T_OLD = "gpt_00000000000000ff_" + "o" * 43


def _info(v: str) -> tuple[int, bytes]:
    return (200, json.dumps({"Version": v, "Time": "2024-01-01T00:00:00Z"}).encode())


def routes() -> dict[str, tuple[int, bytes]]:
    r = {}
    for mod in (PUB, SECRET):
        r[f"{UP}/{mod}/@v/list"] = (200, b"v1.0.0\n")
        r[f"{UP}/{mod}/@v/v1.0.0.info"] = _info("v1.0.0")
        r[f"{UP}/{mod}/@v/v1.0.0.mod"] = (200, f"module {mod}\n".encode())
    return r


def table() -> TokenTable:
    return TokenTable(
        [
            Token("0123456789abcdef", "ci", token_hash(T_READ), scope="corp.example/secret"),
            Token("fedcba9876543210", "ops", token_hash(T_ADMIN), admin=("metrics", "warm")),
            Token("00000000000000ff", "old", token_hash(T_OLD), expires=40.0),
        ]
    )


def bearer(token: str) -> str:
    return f"Authorization: Bearer {token}\r\n"


def basic(token: str, user: str = "me") -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{token}".encode()).decode() + "\r\n"


def get(path, extra="", *, keyring=None, up=None, now=50.0, **cfg):
    cfg.setdefault("anonymous", PUB)
    conn = ProxyConnection(ProxyConfig(upstream=UP, **cfg), keyring=keyring or Keyring(table()))
    up = up if up is not None else ScriptedUpstream(routes())
    raw = exchange(
        conn,
        f"GET {path} HTTP/1.1\r\nHost: p\r\n{extra}\r\n".encode(),
        store=MemoryStore(),
        upstream=up,
        now=now,
    )
    status, headers, body = parse_responses(raw)[0]
    return status, headers, body, conn.take_log()


def test_anonymous_reads_open_modules_only():
    assert get(f"/{PUB}/@v/list")[0] == 200
    status, headers, body, log = get(f"/{SECRET}/@v/list")
    assert status == 401
    assert headers["www-authenticate"] == WWW_AUTHENTICATE
    assert body == f"unauthorized: module {SECRET} needs a token (.netrc or GOAUTH)\n".encode()
    assert log[0].audit is False  # not private: only credentials make it audited


@pytest.mark.parametrize("cred", [bearer, basic])
def test_token_in_scope_reads_and_is_named(cred):
    status, _, body, log = get(f"/{SECRET}/@v/list", cred(T_READ))
    assert (status, body) == (200, b"v1.0.0\n")
    assert (log[0].token, log[0].audit) == ("ci", True)


def test_basic_takes_any_user_name_and_a_colon_in_the_password_is_kept():
    assert get(f"/{SECRET}/@v/list", basic(T_READ, user=""))[0] == 200
    assert parse_authorization(b"Basic " + base64.b64encode(b"u:a:b")) == "a:b"


def test_other_scope_is_403_and_same_for_absent_modules():
    up = ScriptedUpstream(routes())
    there = get(f"/{PUB}/@v/list", keyring=None, up=up, anonymous="none")
    assert there[0] == 401
    a = get(f"/{OTHER}/@v/v1.0.0.mod", bearer(T_READ), up=up)
    b = get(f"/{OTHER}/@v/v9.9.9.mod", bearer(T_READ), up=up)
    assert a[0] == b[0] == 403
    assert a[2] == f"forbidden: token ci does not cover module {OTHER}\n".encode()
    assert up.requests == []  # decided before any look-up


def test_refusal_is_the_same_whether_the_module_exists():
    up = ScriptedUpstream(routes())
    answers = [
        get(f"/{mod}/{what}", up=up)[:3]
        for mod in (SECRET, "corp.example/absent")
        for what in ("@v/list", "@latest", "@v/v1.0.0.info", "@v/v1.0.0.mod", "@v/v1.0.0.zip")
    ]
    assert {a[0] for a in answers} == {401}
    assert len({a[2].replace(b"absent", b"secret") for a in answers}) == 1
    assert up.requests == []


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (bearer("gpt_0123456789abcdef_" + "x" * 43), b"unknown or removed token"),
        (bearer(T_OLD), b"token old expired"),
        (basic("not-a-token"), b"unknown or removed token"),
        ("Authorization: Digest x\r\n", b"unsupported authorization scheme"),
        ("Authorization: Basic !!!\r\n", b"malformed basic credentials"),
    ],
)
def test_bad_credentials_are_401_even_on_open_modules(extra, why):
    status, headers, body, log = get(f"/{PUB}/@v/list", extra)
    assert status == 401
    assert headers["www-authenticate"] == WWW_AUTHENTICATE
    assert why in body
    assert log[0].audit is True and log[0].token == ""
    assert b"sss" not in body and b"xxx" not in body


def test_removed_token_is_refused_at_once():
    ring = Keyring(table())
    assert get(f"/{SECRET}/@v/list", bearer(T_READ), keyring=ring)[0] == 200
    ring.replace(TokenTable([t for t in table().tokens if t.name != "ci"]))
    assert get(f"/{SECRET}/@v/list", bearer(T_READ), keyring=ring)[0] == 401


def test_expiry_uses_the_callers_clock():
    assert get(f"/{SECRET}/@v/list", bearer(T_OLD), now=39.0)[0] == 200
    assert get(f"/{SECRET}/@v/list", bearer(T_OLD), now=40.0)[0] == 401


def test_default_anonymous_is_everything_not_private():
    status = get(f"/{PUB}/@v/list", anonymous="", private="corp.example")[0]
    assert status == 200
    status, _, _, log = get(f"/{SECRET}/@v/list", anonymous="", private="corp.example")
    assert status == 401 and log[0].audit is True  # private: audited even anonymous


def test_health_open_metrics_and_warm_take_admin_scopes():
    assert get("/healthz", anonymous="none")[0] == 200
    assert get("/healthz", bearer("junk"), anonymous="none")[0] == 200
    assert get("/metrics", anonymous="none")[0] != 401  # open by default
    assert get("/metrics", metrics_auth=True)[0] == 401
    assert get("/metrics", bearer(T_READ), metrics_auth=True)[0] == 403
    assert get("/metrics", bearer(T_ADMIN), metrics_auth=True)[0] != 403


def _post_warm(extra: str) -> int:
    conn = ProxyConnection(ProxyConfig(upstream=UP, admin_warm=True), keyring=Keyring(table()))
    body = b""
    raw = exchange(
        conn,
        f"POST /admin/warm HTTP/1.1\r\nHost: p\r\n{extra}Content-Length: 0\r\n\r\n".encode() + body,
        store=MemoryStore(),
        upstream=ScriptedUpstream(),
        now=50.0,
    )
    return parse_responses(raw)[0][0]


def test_warm_needs_admin_warm():
    assert _post_warm("") == 401
    assert _post_warm(bearer(T_READ)) == 403
    assert _post_warm(bearer(T_ADMIN)) not in (401, 403)


def test_sumdb_lookup_of_a_private_module_needs_a_token():
    path = f"/sumdb/sum.test/lookup/{SECRET}@v1.0.0"
    assert get(path)[0] == 401
    assert get(path, bearer(T_READ))[0] not in (401, 403)
    assert get(f"/sumdb/sum.test/lookup/{PUB}@v1.0.0")[0] not in (401, 403)


def test_anonymous_none_closes_everything_but_health():
    for path in ("/", "/catalog", "/sumdb/sum.test/tile/8/0/000", f"/{PUB}/@v/list"):
        assert get(path, anonymous="none")[0] == 401, path
    assert get(f"/{PUB}/@v/list", bearer(T_ADMIN), anonymous="none")[0] == 200  # every module
    assert get(f"/{PUB}/@v/list", bearer(T_READ), anonymous="none")[0] == 403  # not its scope


def test_token_never_in_the_access_record():
    for extra in (bearer(T_READ), basic(T_READ), bearer(T_READ[:-1] + "x")):
        _, _, body, log = get(f"/{SECRET}/@v/list", extra)
        assert T_READ[21:30] not in repr(log)
        assert T_READ[21:30].encode() not in body


def test_split_token():
    assert split_token(T_READ) == ("0123456789abcdef", "s" * 43)
    for bad in ("", "gpt_", "gpt_0123_x", "xyz_0123456789abcdef_" + "s" * 43, T_READ + " "):
        assert split_token(bad) is None


def test_two_authorization_headers_are_refused():
    caller = identify(Keyring(table()), [(b"authorization", b"Bearer x")] * 2, 0.0)
    assert caller.error and not caller.name


@given(st.binary(max_size=300))
def test_parser_never_fails_but_with_auth_error(value):
    try:
        got = parse_authorization(value)
    except AuthError as e:
        why = str(e)
    else:
        assert isinstance(got, str)
        return
    assert why and "\n" not in why


@given(
    st.text(alphabet=st.characters(blacklist_characters=":", blacklist_categories=["Cs"])),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"])),
    st.sampled_from(["Basic", "basic", "BASIC"]),
)
def test_basic_round_trip(user, password, scheme):
    value = f"{scheme} ".encode() + base64.b64encode(f"{user}:{password}".encode())
    assert parse_authorization(value) == password


@given(st.from_regex(r"[A-Za-z0-9._~+/=-]{1,200}", fullmatch=True))
def test_bearer_round_trip(token):
    assert parse_authorization(b"Bearer " + token.encode()) == token


def test_the_catalog_lists_only_what_the_caller_may_read():
    store = MemoryStore()
    for mod in (SECRET, PUB):
        store.put(f"{mod}/@v/v1.0.0.info", _info("v1.0.0")[1])
        store.put(f"{mod}/@v/v1.0.0.mod", f"module {mod}\n".encode())

    def page(path: str, extra: str = "") -> bytes:
        conn = ProxyConnection(ProxyConfig(upstream=UP, anonymous=PUB), keyring=Keyring(table()))
        raw = exchange(
            conn,
            f"GET {path} HTTP/1.1\r\nHost: p\r\n{extra}\r\n".encode(),
            store=store,
            now=50.0,
        )
        status, _, body = parse_responses(raw)[0]
        assert status == 200, body
        return body

    def catalog(query: str, extra: str = ""):
        return json.loads(page(f"/catalog{query}", extra))

    assert [m["module"] for m in catalog("")["modules"]] == [PUB]
    assert [m["module"] for m in catalog("", bearer(T_READ))["modules"]] == [SECRET, PUB]
    # A page whose versions are all hidden still leads on to the next one.
    first = catalog("?n=1")
    assert first["modules"] == [] and first["next"]
    assert [m["module"] for m in catalog(f"?n=1&token={first['next']}")["modules"]] == [PUB]
    assert SECRET.encode() not in page("/", "Accept: text/html\r\n")
    assert SECRET.encode() in page("/", f"Accept: text/html\r\n{bearer(T_READ)}")
