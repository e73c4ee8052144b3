"""goproxy_io pieces on their own: the immutable-blob memo and single-flight bookkeeping."""

from __future__ import annotations

from goproxy_core import AbortBlob, BlobData, BlobInfo, FetchUpstream, ReadBlob, UpstreamResult
from goproxy_core.testing import MemoryStore
from goproxy_io import Executor, Memo, Pending
from goproxy_io.flights import Flights


def test_memo_is_bounded_and_lru():
    m = Memo(max_bytes=10, max_item=6)
    m.put("a", BlobData(b"12345", 0.0))
    m.put("b", BlobData(b"12345", 0.0))
    assert m.get("a") is not None  # a is now the most recent
    m.put("c", BlobData(b"1", 0.0))
    assert m.get("b") is None
    m.put("big", BlobData(b"1234567", 0.0))
    assert m.get("big") is None
    m.put("none", None)
    assert m.get("none") is None
    m.discard("c")
    m.discard("never")
    assert m.get("c") is None


def test_immutable_reads_are_answered_from_memory():
    store = MemoryStore()
    store.put("k", b"data")
    fx = Executor(store)
    pending = Pending()
    assert fx.perform(ReadBlob("k", 100, immutable=True), pending).data == b"data"
    store.delete("k")
    assert fx.perform(ReadBlob("k", 100, immutable=True), pending).data == b"data"
    assert fx.perform(ReadBlob("k", 100), pending) is None


def test_flights_share_results_and_end_once():
    flights = Flights()
    eff = FetchUpstream("https://u.example/m/@v/list", 100)
    a, lead_a = flights.lead_or_follow(eff)
    b, lead_b = flights.lead_or_follow(eff)
    assert lead_a and not lead_b and a is b
    flights.landed(eff, a, UpstreamResult(status=200, body=b"v1.0.0\n"))
    assert b.done.is_set()
    assert b.follower_result().body == b"v1.0.0\n"
    c, lead_c = flights.lead_or_follow(eff)
    assert lead_c and c is not a

    z = FetchUpstream("https://u.example/m/@v/v1.0.0.zip", 100, into="k")
    f, _ = flights.lead_or_follow(z)
    flights.landed(z, f, UpstreamResult(status=200))  # a 200 into a store is not shared
    assert f.follower_result() is None
    g, _ = flights.lead_or_follow(z)
    flights.finish(z, g, BlobInfo(size=3, mtime=0.0))
    assert g.follower_result().stored.size == 3


def test_a_landed_version_file_is_handed_to_late_requests(monkeypatch):
    """A .mod fetched a moment ago (its flow still verifying and storing it) is handed on."""
    from goproxy_io import flights as flights_mod

    clock = [100.0]
    monkeypatch.setattr(flights_mod.time, "monotonic", lambda: clock[0])
    flights = Flights()
    mod = FetchUpstream("https://u.example/m/@v/v1.0.0.mod", 100, immutable=True)
    a, lead = flights.lead_or_follow(mod)
    assert lead
    flights.landed(mod, a, UpstreamResult(status=200, body=b"module m\n"))
    clock[0] += 4.9
    b, lead = flights.lead_or_follow(mod)
    assert not lead and b is a and b.follower_result().body == b"module m\n"
    clock[0] += 0.2  # past ``keep``: fetched again
    c, lead = flights.lead_or_follow(mod)
    assert lead and c is not a
    flights.landed(mod, c, UpstreamResult(status=404, body=b"gone"))
    assert flights.lead_or_follow(mod)[1]  # a not-found is not kept


def test_kept_version_files_are_bounded_in_bytes(monkeypatch):
    from goproxy_io import flights as flights_mod

    monkeypatch.setattr(flights_mod, "KEEP_BYTES", 1000)
    flights = Flights()
    effects = [
        FetchUpstream(f"https://u.example/m/@v/v1.0.{i}.mod", 300, immutable=True) for i in range(5)
    ]
    for eff in effects:
        f, _ = flights.lead_or_follow(eff)
        flights.landed(eff, f, UpstreamResult(status=200, body=b"x" * 240))
    assert flights._kept_bytes <= 1000
    assert flights.lead_or_follow(effects[0])[1]  # the oldest made room
    assert not flights.lead_or_follow(effects[-1])[1]
    big = FetchUpstream("https://u.example/m/@v/v9.0.0.mod", 999, immutable=True)
    f, _ = flights.lead_or_follow(big)
    flights.landed(big, f, UpstreamResult(status=200, body=b"x" * 600))  # over a quarter
    assert flights.lead_or_follow(big)[1]
    mutable = FetchUpstream("https://u.example/m/@v/list", 100)
    f, _ = flights.lead_or_follow(mutable)
    flights.landed(mutable, f, UpstreamResult(status=200, body=b"v1.0.0\n"))
    assert flights.lead_or_follow(mutable)[1]  # a list is asked again


def test_followers_share_a_refusal(tmp_path):
    """A blob the leader's request refused is refused for its followers without a fetch."""
    import threading

    zipf = tmp_path / "v1.0.0.zip"
    zipf.write_bytes(b"not a zip")
    fx = Executor(MemoryStore())
    leader = Pending()
    eff = FetchUpstream(zipf.as_uri(), 100, into="k")
    assert fx.perform(eff, leader).status == 200
    got: list[UpstreamResult] = []
    t = threading.Thread(target=lambda: got.append(fx.perform(eff, Pending())))
    t.start()
    t.join(0.2)
    assert t.is_alive()  # waiting on the leader's flight
    fx.perform(AbortBlob("k", refused="zip: not a valid zip file"), leader)
    t.join(5)
    assert got[0].refused == "zip: not a valid zip file"
    assert fx.store.stat("k") is None
    # Later requests fetch afresh (the upstream may have healed).
    assert fx.perform(eff, Pending()).refused == ""


def test_an_alarm_gets_an_error_log_line(caplog):
    """A forked checksum database is logged loudly, whatever the access-log setting."""
    from goproxy_core import AccessRecord
    from goproxy_io import log_exchanges

    class Conn:
        base_path = ""

        def take_log(self):
            rec = AccessRecord("GET", "/m/@v/v1.0.0.mod", 502, 10, "", 0.0, 0.0, alarm="forked")
            return [rec]

    with caplog.at_level("INFO"):
        log_exchanges(Conn())
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.name for r in errors] == ["goproxy.integrity"]
    assert "forked" in errors[0].getMessage()


def test_servers_forget_what_they_keep_in_memory_once_verify_quarantined_something():
    import time as _time

    from goproxy_core import BlobData, ProxyConfig
    from goproxy_core.proxy.hot import HotReply
    from goproxy_core.proxy.keys import QUARANTINE_MARK
    from goproxy_core.testing import MemoryStore
    from goproxy_io.server import ServerBase

    store = MemoryStore()
    server = ServerBase(store, ProxyConfig(upstream="off"))
    try:
        server.executor.memo.put("example.com/m/@v/v1.0.0.mod", BlobData(b"module m\n", 0.0))
        server.hot.put(b"GET", b"/x", HotReply(b"", b"", 200, 0, "goproxy; hit"))
        _time.sleep(0.1)
        store.put(QUARANTINE_MARK, b"run 1\n", mtime=1.0)
        deadline = _time.monotonic() + 10
        while len(server.hot) or server.executor.memo.get("example.com/m/@v/v1.0.0.mod"):
            assert _time.monotonic() < deadline, "the watch did not forget"
            _time.sleep(0.05)
    finally:
        server.close()
