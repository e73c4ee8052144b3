"""``goproxy export`` on a store URL with the own checksum database: refused with one line
naming why (the log export reads is the cache dir's), never a bundle that silently lacks the
own database's proofs. Settings refuse ``own-sumdb`` with a store URL before this today; the
export's own check keeps the line clear if that refusal goes."""

from __future__ import annotations

import msgspec
import pytest

from goproxy_cli import bundle
from goproxy_cli.settings import load_settings
from goproxy_core import compile_config


def test_export_from_a_store_refuses_the_own_database(tmp_path):
    settings = load_settings(
        {"store": (tmp_path / "s").as_uri(), "upstream": "off", "sumdb": "off"}, environ={}
    )
    settings = msgspec.structs.replace(settings, own_sumdb="sumdb.corp.test")
    cfg = compile_config(settings.proxy_config())
    with pytest.raises(bundle.ExportError, match=r"own-sumdb sumdb\.corp\.test: export reads"):
        bundle._sources(settings, cfg, None, None, 0.0)  # type: ignore[arg-type]
