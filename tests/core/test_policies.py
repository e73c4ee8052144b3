"""Retraction policies, @latest, checksum database relaying, health endpoints."""

from __future__ import annotations

import json

import pytest

from goproxy_core.proxy import (
    ProxyConfig,
    ProxyConnection,
    RetractedPolicy,
    SumdbConfig,
    UpstreamResult,
)
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange
from sumdbfix import FixtureDB

from support import parse_responses

UP = "https://up.example"
MOD = "example.com/r"
P = f"{UP}/{MOD}/@v/"


def info(v):
    return (200, json.dumps({"Version": v, "Time": "2024-01-01T00:00:00Z"}).encode())


def retract_routes():
    newest = (
        b"module example.com/r\n\ngo 1.21\n\n"
        b"retract (\n"
        b"\t// Published by accident.\n"
        b"\tv1.0.1\n"
        b"\t[v1.2.0, v1.2.1] // broken build\n"
        b")\n"
    )
    r = {
        P + "list": (200, b"v1.0.0\nv1.0.1\nv1.1.0\nv1.2.0\nv1.2.1\n"),
        P + "v1.2.1.mod": (200, newest),
        P + "v1.1.0.mod": (200, b"module example.com/r\n"),
        P + "v1.0.1.zip": (200, b"never used"),
    }
    for v in ("v1.0.0", "v1.0.1", "v1.1.0", "v1.2.0", "v1.2.1"):
        r[P + f"{v}.info"] = info(v)
    r[f"{UP}/{MOD}/@latest"] = info("v1.2.1")
    return r


def get(path, policy, up, store=None):
    conn = ProxyConnection(ProxyConfig(upstream=UP, retracted=RetractedPolicy(policy)))
    raw = exchange(
        conn,
        f"GET {path} HTTP/1.1\r\nHost: p\r\n\r\n".encode(),
        store=store or MemoryStore(),
        upstream=up,
        now=10.0,
    )
    return parse_responses(raw)[0]


def test_serve_lists_everything_and_relays_latest():
    up = ScriptedUpstream(retract_routes())
    assert get(f"/{MOD}/@v/list", "serve", up)[2] == b"v1.0.0\nv1.0.1\nv1.1.0\nv1.2.0\nv1.2.1\n"
    assert json.loads(get(f"/{MOD}/@latest", "serve", up)[2])["Version"] == "v1.2.1"
    assert get(f"/{MOD}/@v/v1.0.1.info", "serve", up)[0] == 200


@pytest.mark.parametrize("policy", ["hide", "gone"])
def test_hide_and_gone_filter_list_and_latest(policy):
    up = ScriptedUpstream(retract_routes())
    assert get(f"/{MOD}/@v/list", policy, up)[2] == b"v1.0.0\nv1.1.0\n"
    assert json.loads(get(f"/{MOD}/@latest", policy, up)[2])["Version"] == "v1.1.0"


def test_hide_still_serves_retracted_versions():
    up = ScriptedUpstream(retract_routes())
    assert get(f"/{MOD}/@v/v1.0.1.info", "hide", up)[0] == 200


def test_gone_answers_410_with_rationale_and_replacement():
    up = ScriptedUpstream(retract_routes())
    status, _headers, body = get(f"/{MOD}/@v/v1.0.1.zip", "gone", up)
    assert status == 410
    assert b"retracted by the module author (Published by accident.)" in body
    assert b"use example.com/r@v1.1.0 instead" in body
    assert b"not found" not in body
    status, _, body = get(f"/{MOD}/@v/v1.2.0.info", "gone", up)
    assert status == 410 and b"broken build" in body
    assert get(f"/{MOD}/@v/v1.1.0.info", "gone", up)[0] == 200


def test_self_retracting_latest():
    r = {
        P + "list": (200, b"v1.0.0\nv1.1.0\n"),
        P + "v1.1.0.mod": (200, b"module example.com/r\nretract v1.1.0\n"),
        P + "v1.0.0.info": info("v1.0.0"),
    }
    up = ScriptedUpstream(r)
    assert json.loads(get(f"/{MOD}/@latest", "hide", up)[2])["Version"] == "v1.0.0"
    r[P + "v1.1.0.mod"] = (200, b"module example.com/r\nretract [v1.0.0, v1.1.0]\n")
    up = ScriptedUpstream(r)
    status, _, body = get(f"/{MOD}/@latest", "hide", up)
    assert status == 404 and b"every version" in body
    status, _, body = get(f"/{MOD}/@v/v1.0.0.mod", "gone", up)
    assert status == 410 and b"no version of example.com/r is left unretracted" in body


def test_incompatible_ignored_above_a_compatible_gomod():
    r = {
        P + "list": (200, b"v1.0.0\nv2.0.0+incompatible\n"),
        P + "v1.0.0.mod": (200, b"module example.com/r\n\ngo 1.20\n"),
        P + "v1.0.0.info": info("v1.0.0"),
    }
    got = get(f"/{MOD}/@latest", "hide", ScriptedUpstream(r))
    assert json.loads(got[2])["Version"] == "v1.0.0"
    r[P + "v1.0.0.mod"] = (200, b"module example.com/r\n")
    r[P + "v2.0.0+incompatible.mod"] = (200, b"module example.com/r\n")
    r[P + "v2.0.0+incompatible.info"] = info("v2.0.0+incompatible")
    got = get(f"/{MOD}/@latest", "hide", ScriptedUpstream(r))
    assert json.loads(got[2])["Version"] == "v2.0.0+incompatible"


def test_untagged_module_latest_under_hide():
    pseudo = "v0.0.0-20240101000000-abcdefabcdef"
    r = {
        P + "list": (200, b""),
        f"{UP}/{MOD}/@latest": info(pseudo),
        P + f"{pseudo}.mod": (200, b"module example.com/r\n"),
    }
    got = get(f"/{MOD}/@latest", "hide", ScriptedUpstream(r))
    assert json.loads(got[2])["Version"] == pseudo
    r[P + f"{pseudo}.mod"] = (
        200,
        b"module example.com/r\nretract v0.0.0-20240101000000-abcdefabcdef\n",
    )
    assert get(f"/{MOD}/@latest", "hide", ScriptedUpstream(r))[0] == 404


# -- checksum database --------------------------------------------------------------------

DBF = FixtureDB("sum.example")
for _i in range(4):
    DBF.add_record(f"example.com/x{_i}@v1.0.0", f"example.com/x{_i} v1.0.0 h1:x{_i}=\n".encode())
DBF.publish()
SUMDB = DBF.name
DB = "https://db.example"


def sget(path, up, store=None, private=""):
    conn = ProxyConnection(
        ProxyConfig(
            upstream=UP, sumdb=(SumdbConfig(SUMDB, DBF.vkey, DB),), private=private, anonymous="*"
        )
    )
    raw = exchange(
        conn,
        f"GET {path} HTTP/1.1\r\nHost: p\r\n\r\n".encode(),
        store=store or MemoryStore(),
        upstream=up,
        now=10.0,
    )
    return parse_responses(raw)[0]


def test_sumdb_supported_only_for_configured_names():
    up = ScriptedUpstream()
    assert sget(f"/sumdb/{SUMDB}/supported", up)[0] == 200  # its URL is configured
    assert sget("/sumdb/other.example/supported", up)[0] == 404
    assert sget("/sumdb/other.example/latest", up)[0] == 404
    assert up.requests == []


def test_sumdb_tiles_are_cached_forever():
    tile = DBF.files()["tile/8/0/000.p/4"]
    up = ScriptedUpstream(DBF.routes(DB))
    store = MemoryStore()
    status, headers, body = sget(f"/sumdb/{SUMDB}/tile/8/0/000.p/4", up, store)
    assert (status, body) == (200, tile)
    assert "immutable" in headers["cache-control"]
    asked = len(up.requests)
    assert sget(f"/sumdb/{SUMDB}/tile/8/0/000.p/4", up, store)[2] == tile
    assert len(up.requests) == asked


def test_sumdb_short_tile_is_refused():
    up = ScriptedUpstream({f"{DB}/tile/8/0/000.p/4": (200, b"short")})
    store = MemoryStore()
    assert sget(f"/sumdb/{SUMDB}/tile/8/0/000.p/4", up, store)[0] == 502
    assert store.keys() == []


def test_sumdb_latest_and_lookup_relay_and_stale():
    up = ScriptedUpstream(DBF.routes(DB))
    store = MemoryStore()
    assert sget(f"/sumdb/{SUMDB}/latest", up, store)[0] == 200
    up.routes[f"{DB}/latest"] = (500, b"down")
    status, headers, _ = sget(f"/sumdb/{SUMDB}/latest", up, store)
    assert status == 200 and "warning" in headers
    assert sget(f"/sumdb/{SUMDB}/lookup/example.com/m@v1.0.0", up)[0] == 404
    assert sget(f"/sumdb/{SUMDB}/lookup/example.com/x1@v1.0.0", up, store)[0] == 200


def test_sumdb_lookup_of_private_module_is_refused():
    up = ScriptedUpstream()
    status, _, body = sget(
        f"/sumdb/{SUMDB}/lookup/corp.example/x@v1.0.0", up, private="corp.example"
    )
    assert status == 404 and b"private" in body
    assert up.requests == []


def test_health():
    up = ScriptedUpstream()
    assert sget("/healthz", up)[:3:2] == (200, b"ok\n")
    assert sget("/readyz", up)[0] == 200  # the upstream answered (404): it is reachable
    down = ScriptedUpstream({f"{UP}/": UpstreamResult(status=0, error="connection refused")})
    status, _, body = sget("/readyz", down)
    assert status == 503 and b"unreachable" in body
    off = ProxyConnection(ProxyConfig(upstream="off"))
    raw = exchange(off, b"GET /readyz HTTP/1.1\r\nHost: p\r\n\r\n", store=MemoryStore())
    assert b"cache only" in raw
    store = MemoryStore()
    store.fail_writes = True
    assert sget("/readyz", up, store)[0] == 503
    assert sget("/", up)[0] == 200


@pytest.mark.parametrize("policy", ["hide", "gone"])
def test_hide_drops_only_retracted_lines_byte_for_byte(policy):
    """Under hide/gone only the retracted versions' lines go; every other byte of the
    upstream's list stays (cmd/go modfetch/proxy.go ``Versions`` reads the rest itself)."""
    routes = retract_routes()
    routes[P + "list"] = (
        200,
        b"v1.0.0 2024-01-01T00:00:00Z\r\nv1.0.1\n\njunk line\nv1.1.0\tx\n"
        b"v0.0.0-20240101000000-abcdefabcdef 2024-01-01T00:00:00Z\nv1.2.0\nv1.2.1",
    )
    got = get(f"/{MOD}/@v/list", policy, ScriptedUpstream(routes))[2]
    assert got == (
        b"v1.0.0 2024-01-01T00:00:00Z\r\n\njunk line\nv1.1.0\tx\n"
        b"v0.0.0-20240101000000-abcdefabcdef 2024-01-01T00:00:00Z"
    )


def test_untagged_module_without_latest_takes_retractions_from_the_lists_latest():
    """No tags and no @latest upstream: the go command's latest is the list's newest line
    (cmd/go modfetch/proxy.go ``latestFromList``), and its go.mod holds the retractions."""
    old, new = "v0.0.0-20240101000000-aaaaaaaaaaaa", "v0.0.0-20240202000000-bbbbbbbbbbbb"
    listing = f"{old} 2024-01-01T00:00:00Z\n{new} 2024-02-02T00:00:00Z\n".encode()
    r = {
        P + "list": (200, listing),
        P + f"{new}.mod": (200, f"module example.com/r\nretract {old}\n".encode()),
    }
    got = get(f"/{MOD}/@v/list", "hide", ScriptedUpstream(r))
    assert got[:3:2] == (200, f"{new} 2024-02-02T00:00:00Z\n".encode())
    status, _, body = get(f"/{MOD}/@v/{old}.info", "gone", ScriptedUpstream(r))
    assert status == 410 and b"retracted" in body


@pytest.mark.parametrize("policy", ["hide", "gone"])
def test_latest_gomod_that_does_not_parse_retracts_nothing(policy):
    """A go.mod the proxy cannot read for its own features declares no retractions; it is
    served as sent all the same (cmd/go modfetch/proxy.go ``GoMod``)."""
    routes = retract_routes()
    routes[P + "v1.2.1.mod"] = (200, b"module example.com/r\nretract (\n")
    up = ScriptedUpstream(routes)
    store = MemoryStore()
    assert get(f"/{MOD}/@v/list", policy, up, store)[2] == routes[P + "list"][1]
    assert json.loads(get(f"/{MOD}/@latest", policy, up, store)[2])["Version"] == "v1.2.1"
    assert (
        get(f"/{MOD}/@v/v1.2.1.mod", policy, up, store)[2] == b"module example.com/r\nretract (\n"
    )


class _MeasuredStore(MemoryStore):
    """A memory store that reports ``free`` bytes left (``SpaceReportingStore``)."""

    free: int | None = 0

    def free_space(self):
        return None if self.free is None else (self.free, "/srv/cache")


@pytest.mark.parametrize(
    ("free", "least", "status", "text"),
    [
        (
            100 << 20,
            512 << 20,
            503,
            "cache /srv/cache has 100 MiB free, below min-free-space 512 MiB",
        ),
        (1536 << 20, 2 << 30, 503, "cache /srv/cache has 1.5 GiB free, below min-free-space 2 GiB"),
        (900, 1 << 10, 503, "cache /srv/cache has 900 bytes free, below min-free-space 1 KiB"),
        (600 << 20, 512 << 20, 200, "ready (cache only: upstream lookups are off)"),
        (0, 0, 200, "ready (cache only: upstream lookups are off)"),  # 0: not checked
        (None, 512 << 20, 200, "ready (cache only: upstream lookups are off)"),  # cannot tell
    ],
)
def test_readyz_judges_the_stores_free_space(free, least, status, text):
    store = _MeasuredStore()
    store.free = free
    conn = ProxyConnection(ProxyConfig(upstream="off", min_free_space=least))
    raw = exchange(conn, b"GET /readyz HTTP/1.1\r\nHost: p\r\n\r\n", store=store)
    (resp,) = parse_responses(raw)
    prefix = "not ready: " if status == 503 else ""
    assert (resp[0], resp[2].decode()) == (status, prefix + text + "\n")
    # A store that cannot tell (no free_space at all) is not judged either.
    raw = exchange(conn, b"GET /readyz HTTP/1.1\r\nHost: p\r\n\r\n", store=MemoryStore())
    assert parse_responses(raw)[0][0] == 200


def test_negative_min_free_space_and_failure_ttl_are_refused():
    from goproxy_core import ConfigError
    from goproxy_core.proxy.config import compile_config

    for kw in ({"min_free_space": -1}, {"failure_ttl": -1.0}):
        with pytest.raises(ConfigError):
            compile_config(ProxyConfig(**kw))
