"""Prefetch: a ``.mod`` fetched cold from an upstream proxy yields ``Prefetch`` for the ``.mod``
and ``.info`` of every version it requires (the go command's next wave of the module graph);
each is fetched, verified against the checksum database and stored as a client's request
would be, never for private or nosumdb modules, never from ``direct``, within a depth bound."""

from __future__ import annotations

import json

import pytest

from goproxy_core import ConfigError, Prefetch, ProxyConfig, ProxyConnection, SumdbConfig
from goproxy_core.proxy import compile_config
from goproxy_core.proxy.engine import handle_prefetch
from goproxy_core.proxy.engine.prefetch import MAX_PREFETCH_DEPTH, next_wave, prunes
from goproxy_core.proxy.keys import negative_key
from goproxy_core.proxy.targets import FileKind
from goproxy_core.testing import MemoryStore, ScriptedUpstream, exchange, run_prefetch
from sumdbfix import FixtureDB

from support import make_zip, parse_responses

UP = "https://up.example"
NAME = "sumdb.test"


def gomod(path: str, *requires: str, go: str = "1.21") -> bytes:
    lines = [f"module {path}", "", f"go {go}", ""]
    if requires:
        lines.append("require (")
        lines += [f"\t{r}" for r in requires]
        lines.append(")")
    return ("\n".join(lines) + "\n").encode()


def info(version: str) -> bytes:
    return json.dumps({"Version": version, "Time": "2024-01-01T00:00:00Z"}).encode()


# A chain root -> a -> c -> d -> e -> f (one hop each), and root -> b, private, nosumdb.
# a, c and d do not prune the graph (go 1.16), so the go command reads their requires' go.mod
# files too; b prunes (go 1.21): its require g is a graph node whose go.mod is never read.
GRAPH = {
    ("example.com/root", "v1.0.0"): gomod(
        "example.com/root",
        "example.com/a v1.1.0",
        "example.com/b v1.2.0 // indirect",
        "private.example/p v1.0.0",
        "nosum.example/n v1.0.0",
    ),
    ("example.com/a", "v1.1.0"): gomod("example.com/a", "example.com/c v1.0.0", go="1.16"),
    ("example.com/b", "v1.2.0"): gomod("example.com/b", "example.com/g v1.0.0"),
    ("example.com/c", "v1.0.0"): gomod("example.com/c", "example.com/d v1.0.0", go="1.16"),
    ("example.com/d", "v1.0.0"): gomod("example.com/d", "example.com/e v1.0.0", go="1.16"),
    ("example.com/e", "v1.0.0"): gomod("example.com/e", "example.com/f v1.0.0"),
    ("example.com/f", "v1.0.0"): gomod("example.com/f"),
    ("example.com/g", "v1.0.0"): gomod("example.com/g"),
    ("private.example/p", "v1.0.0"): gomod("private.example/p"),
    ("nosum.example/n", "v1.0.0"): gomod("nosum.example/n"),
}


def make_db() -> FixtureDB:
    db = FixtureDB(NAME, b"p" * 32)
    for (path, version), mod in GRAPH.items():
        db.add(path, version, mod, make_zip(path, version, {"go.mod": mod}))
    db.publish()
    return db


DB = make_db()


def routes() -> dict:
    r: dict = {}
    for (path, version), mod in GRAPH.items():
        r[f"{UP}/{path}/@v/{version}.mod"] = (200, mod)
        r[f"{UP}/{path}/@v/{version}.info"] = (200, info(version))
    r.update(DB.routes(f"{UP}/sumdb/{NAME}"))
    return r


def config(**kw) -> ProxyConfig:
    kw.setdefault("upstream", UP)
    kw.setdefault("private", "private.example")
    kw.setdefault("nosumdb", "nosum.example")
    return ProxyConfig(sumdb=(SumdbConfig(DB.name, DB.vkey),), **kw)


def get(path: str, store, up, cfg=None, prefetches=None):
    raw = exchange(
        ProxyConnection(cfg or config()),
        f"GET {path} HTTP/1.1\r\nHost: p\r\n\r\n".encode(),
        store=store,
        upstream=up,
        now=10.0,
        prefetches=prefetches,
    )
    (resp,) = parse_responses(raw)
    return resp


def names(p: Prefetch) -> list[str]:
    return [f"{r.module}@{r.version}.{r.kind.value}" for r in p.requests]


def test_a_cold_mod_prefetches_its_requires_but_not_private_or_nosumdb():
    store, up, asked = MemoryStore(), ScriptedUpstream(routes()), []
    status, headers, body = get("/example.com/root/@v/v1.0.0.mod", store, up, prefetches=asked)
    assert (status, body) == (200, GRAPH[("example.com/root", "v1.0.0")])
    assert "fwd=miss; stored" in headers["cache-status"]
    (p,) = asked
    assert p.depth == 1
    assert names(p) == [
        "example.com/a@v1.1.0.mod",
        "example.com/a@v1.1.0.info",
        "example.com/b@v1.2.0.mod",
        "example.com/b@v1.2.0.info",
    ]


def test_a_hit_an_info_and_prefetch_off_prefetch_nothing():
    store, up = MemoryStore(), ScriptedUpstream(routes())
    get("/example.com/root/@v/v1.0.0.mod", store, up)
    asked: list[Prefetch] = []
    assert get("/example.com/root/@v/v1.0.0.mod", store, up, prefetches=asked)[0] == 200
    assert get("/example.com/root/@v/v1.0.0.info", store, up, prefetches=asked)[0] == 200
    assert asked == []
    off = config(prefetch=False)
    assert get("/example.com/a/@v/v1.1.0.mod", MemoryStore(), up, off, prefetches=asked)[0] == 200
    assert asked == []


def test_prefetched_files_are_verified_stored_and_answered_as_hits():
    store, up, asked = MemoryStore(), ScriptedUpstream(routes()), []
    get("/example.com/root/@v/v1.0.0.mod", store, up, prefetches=asked)
    up.requests.clear()
    done = run_prefetch(asked[0], store=store, upstream=up, now=10.0)
    outcomes = dict(done)
    # Depth 1 (a, b), 2 (c), 3 (d): d's own requires (e) are past MAX_PREFETCH_DEPTH; b's
    # (g) are never read by the go command, b's go.mod prunes the graph.
    assert MAX_PREFETCH_DEPTH == 3
    mods = [k for k, _ in done if k.endswith(".mod")]
    assert mods == [
        "example.com/a/@v/v1.1.0.mod",
        "example.com/b/@v/v1.2.0.mod",
        "example.com/c/@v/v1.0.0.mod",
        "example.com/d/@v/v1.0.0.mod",
    ]
    assert all(o.stored and not o.error for o in outcomes.values())
    assert not any("private.example" in u or "nosum.example" in u for u in up.requests)
    assert f"{UP}/example.com/e/@v/v1.0.0.mod" not in up.requests
    assert not any("example.com/g/" in u for u in up.requests)
    # Checked against the checksum database, as a client's request would be.
    assert any("/sumdb/" in u for u in up.requests)
    up.requests.clear()
    for path in ("example.com/a/@v/v1.1.0.mod", "example.com/d/@v/v1.0.0.info"):
        status, headers, _ = get(f"/{path}", store, up)
        assert (status, headers["cache-status"]) == (200, "goproxy; hit")
    assert up.requests == []


def test_a_tampered_mod_is_refused_and_no_failure_is_remembered():
    r = routes()
    r[f"{UP}/example.com/a/@v/v1.1.0.mod"] = (200, gomod("example.com/a", "evil.example/x v1.0.0"))
    r[f"{UP}/example.com/b/@v/v1.2.0.info"] = (503, b"busy\n")
    store, up, asked = MemoryStore(), ScriptedUpstream(r), []
    get("/example.com/root/@v/v1.0.0.mod", store, up, prefetches=asked)
    outcomes = dict(run_prefetch(asked[0], store=store, upstream=up, now=10.0))
    bad = outcomes["example.com/a/@v/v1.1.0.mod"]
    assert not bad.stored and "checksum database" in bad.error
    assert "503" in outcomes["example.com/b/@v/v1.2.0.info"].error
    assert store.stat("example.com/a/@v/v1.1.0.mod") is None
    # Nothing remembered (the config remembers failures for clients: failure_ttl=5).
    for key in ("example.com/a/@v/v1.1.0.mod", "example.com/b/@v/v1.2.0.info"):
        assert store.stat(negative_key(key)) is None
    assert not any("evil.example" in u for u in up.requests)
    # The upstream healed: the client's own request walks it as without prefetch.
    up.routes[f"{UP}/example.com/b/@v/v1.2.0.info"] = (200, info("v1.2.0"))
    assert get("/example.com/b/@v/v1.2.0.info", store, up)[0] == 200


def test_a_prefetch_never_asks_direct_and_a_mod_from_direct_prefetches_nothing():
    cfg = config(upstream=f"{UP},direct")
    store, up = MemoryStore(), ScriptedUpstream(routes())
    del up.routes[f"{UP}/example.com/b/@v/v1.2.0.mod"]
    asked: list[Prefetch] = []
    get("/example.com/root/@v/v1.0.0.mod", store, up, cfg, prefetches=asked)
    outcomes = dict(run_prefetch(asked[0], store=store, upstream=up, now=10.0))
    assert outcomes["example.com/b/@v/v1.2.0.mod"].error
    assert not any(u.startswith("direct:") for u in up.requests)
    assert store.stat(negative_key("example.com/b/@v/v1.2.0.mod")) is None


def test_the_flow_refuses_what_is_not_a_canonical_mod_or_info():
    cfg = compile_config(config())
    (req, *_) = next_wave(cfg, gomod("x.example/m", "example.com/a v1.1.0"))
    zip_req = type(req)(
        req.module, req.version, FileKind.ZIP, req.escaped, req.escaped_version, True
    )
    flow = handle_prefetch(cfg, zip_req, 0.0, 1)
    with pytest.raises(StopIteration) as stop:
        next(flow)  # no I/O asked for
    assert "not a canonical" in stop.value.value.error


def test_next_wave_parses_as_the_go_command_reads_a_dependency():
    cfg = compile_config(config())
    assert next_wave(cfg, b"module x\nrequire (\n") == ()  # does not parse: nothing
    # Not valid for its path: x/mod's ParseLax refuses the file, as the go command would.
    assert next_wave(cfg, b"module x\nrequire example.com/v2 v3.0.0\n") == ()
    # A path module.Check refuses (no dot in its first element): the go command asks nothing.
    assert next_wave(cfg, b"module x\nrequire x v1.0.0\n") == ()
    wave = next_wave(
        cfg,
        b"module example.com/x\n"
        b"require example.com/A v1.0.0\n"
        b"require example.com/A v1.0.0\n"  # once
        b"require example.com/old v2.0.0+incompatible\n"
        b"replace example.com/A => ./a\n",  # the main module's: ignored in a dependency
    )
    assert [(r.module, r.escaped, r.version, r.kind) for r in wave] == [
        ("example.com/A", "example.com/!a", "v1.0.0", FileKind.MOD),
        ("example.com/A", "example.com/!a", "v1.0.0", FileKind.INFO),
        ("example.com/old", "example.com/old", "v2.0.0+incompatible", FileKind.MOD),
        ("example.com/old", "example.com/old", "v2.0.0+incompatible", FileKind.INFO),
    ]
    assert Prefetch.key(wave[1]) == "example.com/!a/@v/v1.0.0.info"


def test_a_prefetched_go_mod_that_prunes_the_graph_names_no_next_wave():
    cfg = compile_config(config())
    pruned = gomod("example.com/x", "example.com/a v1.1.0")
    unpruned = gomod("example.com/x", "example.com/a v1.1.0", go="1.16")
    bare = b"module example.com/x\nrequire example.com/a v1.1.0\n"
    for mod in (pruned, unpruned, bare):  # a client's go.mod: its requires whatever its go line
        assert len(next_wave(cfg, mod)) == 2
    assert next_wave(cfg, pruned, prefetched=True) == ()
    assert len(next_wave(cfg, unpruned, prefetched=True)) == 2
    assert len(next_wave(cfg, bare, prefetched=True)) == 2  # no go line: unpruned


@pytest.mark.parametrize(
    ("go", "pruned"),
    [
        (None, False),
        ("1.16", False),
        ("1.16.15", False),
        ("1.17", True),
        ("1.17rc1", True),
        ("1.21.0", True),
        ("1.100", True),
        ("2.0", True),
        ("1", False),
        ("one.17", False),
    ],
)
def test_prunes_mirrors_pruning_for_go_version(go, pruned):
    assert prunes(go) is pruned


def test_prefetch_concurrency_must_be_positive():
    with pytest.raises(ConfigError, match="prefetch-concurrency"):
        compile_config(ProxyConfig(prefetch_concurrency=0))


def test_a_file_the_cache_cannot_keep_is_a_failed_prefetch():
    store, up, asked = MemoryStore(), ScriptedUpstream(routes()), []
    get("/example.com/root/@v/v1.0.0.mod", store, up, prefetches=asked)
    store.fail_writes = True
    outcomes = dict(run_prefetch(asked[0], store=store, upstream=up, now=10.0))
    bad = outcomes["example.com/b/@v/v1.2.0.info"]
    assert (bad.stored, bad.present, bad.error) == (False, False, "the cache failed to store it")
