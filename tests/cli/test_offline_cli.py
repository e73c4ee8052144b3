"""The ``offline`` setting: flag, environment variable and config key, and what it tells."""

from __future__ import annotations

from goproxy_cli.main import _parser
from goproxy_cli.settings import load_settings
from sumdbfix import FixtureDB

ENV = {"HOME": "/nonexistent", "GOPROXY_CORE_SUMDB": "off", "GOPROXY_CORE_UPSTREAM": "off"}


def test_offline_from_every_source(tmp_path):
    assert load_settings({}, environ=ENV).proxy_config().offline is False
    cfg = tmp_path / "goproxy.toml"
    cfg.write_text("offline = true\n")
    assert load_settings({}, environ=ENV, config_file=str(cfg)).proxy_config().offline
    env = {**ENV, "GOPROXY_CORE_OFFLINE": "yes"}
    assert load_settings({}, environ=env).offline
    env = {**ENV, "GOPROXY_CORE_OFFLINE": "false"}
    assert not load_settings({}, environ=env, config_file=str(cfg)).offline  # env beats file
    ns = _parser().parse_args(["serve", "--offline"])
    assert ns.offline is True
    assert _parser().parse_args(["serve"]).offline is None  # not given: other sources decide


def test_the_start_up_line_says_the_database_is_answered_offline():
    db = FixtureDB("sumdb.test")
    online = {**ENV, "GOPROXY_CORE_UPSTREAM": "https://up.example"}
    for env, flags in (
        (ENV, {"sumdb": db.vkey}),
        (online, {"sumdb": db.vkey, "offline": True}),
    ):
        line = load_settings(flags, environ=env).verification_summary()
        assert line.startswith("verify: offline: /sumdb/sumdb.test/ answered from the proofs")
        assert db.vkey in line
    # "off" with a database URL of its own still reaches the database.
    line = load_settings({"sumdb": f"{db.vkey}=https://db.example"}, environ=ENV)
    assert line.verification_summary().startswith("verify: every .mod and .zip")
    line = load_settings({"sumdb": db.vkey}, environ=online).verification_summary()
    assert line.startswith("verify: every .mod and .zip")
