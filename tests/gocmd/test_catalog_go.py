"""The catalog's paths never shadow a module: the go command downloads modules named like them.

The pages live at ``/catalog`` and ``/-/module/<path>``; the go command only asks for
``<module>/@v/…``, ``<module>/@latest`` and ``sumdb/…``. Modules whose paths look like those
routes (``example.com/-/module/x``: a dash element is allowed after the first;
``catalog.example.com/m``; ``example.com/catalog``) are still served as modules, and then show
up in the catalog themselves.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from serving import go_env, run_go, serving

from support import make_zip

MODULES = ("example.com/-/module/x", "catalog.example.com/m", "example.com/catalog")


def _upstream(root: Path) -> Path:
    for module in MODULES:
        d = root / module / "@v"
        d.mkdir(parents=True)
        gomod = f"module {module}\n\ngo 1.21\n".encode()
        (d / "list").write_text("v1.0.0\n")
        (d / "v1.0.0.info").write_text('{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}')
        (d / "v1.0.0.mod").write_bytes(gomod)
        files = {"go.mod": gomod, "x.go": b"package x\n"}
        (d / "v1.0.0.zip").write_bytes(make_zip(module, "v1.0.0", files))
    return root


def test_modules_named_like_the_catalog_routes_download(tmp_path):
    up = _upstream(tmp_path / "up")
    home = tmp_path / "home"
    home.mkdir()
    with serving("--upstream", up.as_uri(), cache=tmp_path / "cache") as served:
        args = ["mod", "download", "-json", *(f"{m}@v1.0.0" for m in MODULES)]
        code, out, err = run_go(args, go_env(home, served.url), home)
        assert code == 0, err
        got = [json.loads(part) for part in out.replace("}\n{", "}\x00{").split("\x00")]
        assert sorted(g["Path"] for g in got) == sorted(MODULES)
        assert all(g.get("Sum", "").startswith("h1:") and "Error" not in g for g in got)
        deadline = time.monotonic() + 15  # the usage index is written every 2 s
        while True:
            with urllib.request.urlopen(served.url + "/catalog", timeout=10) as r:
                listed = {m["module"] for m in json.loads(r.read())["modules"]}
            if listed == set(MODULES) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert listed == set(MODULES)
        page = served.url + "/-/module/example.com/-/module/x"
        with urllib.request.urlopen(page, timeout=10) as r:
            assert b'<h1 id="module">example.com/-/module/x</h1>' in r.read()
