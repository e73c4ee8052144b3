"""The go command is the judge: through each of our servers it must see exactly what it sees
reading the same module tree with GOPROXY=file://.

Fixture modules are built here (upper-case paths, no go.mod, +incompatible, /v2, pseudo-only,
a self-retracting latest, a deprecation, a dependency graph); every go call has its own
GOPROXY, GOSUMDB, GOFLAGS, GOPATH, GOMODCACHE, GOCACHE and GOTOOLCHAIN=local
(``serving.go_env``) and a timeout.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from subprocess import DEVNULL

import pytest

from serving import go_env, run_go, serving

T = "2024-01-02T03:04:05Z"


def _esc(s: str) -> str:
    return "".join("!" + c.lower() if c.isupper() else c for c in s)


def _add(tree: Path, mod: str, version: str, files: dict[str, str], gomod: str | None) -> None:
    d = tree / _esc(mod) / "@v"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{_esc(version)}.info").write_text(json.dumps({"Version": version, "Time": T}))
    mod_bytes = gomod if gomod is not None else f"module {mod}\n"
    (d / f"{_esc(version)}.mod").write_text(mod_bytes)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if gomod is not None:
            z.writestr(f"{mod}@{version}/go.mod", gomod)
        for name, content in files.items():
            z.writestr(f"{mod}@{version}/{name}", content)
    (d / f"{_esc(version)}.zip").write_bytes(buf.getvalue())
    if "-0." not in version and not version.startswith("v0.0.0-"):
        with (d / "list").open("a") as f:
            f.write(version + "\n")
    else:
        (d / "list").touch()
        (tree / _esc(mod) / "@latest").write_text(json.dumps({"Version": version, "Time": T}))


def build_tree(tree: Path) -> None:
    src = {"a.go": "package a\n"}
    for v in ("v1.0.0", "v1.1.0", "v1.2.0-pre"):
        _add(tree, "example.com/plain", v, src, "module example.com/plain\n\ngo 1.21\n")
    for v in ("v1.0.0-PRE", "v1.0.0"):
        _add(tree, "example.com/Upper/Case", v, src, "module example.com/Upper/Case\n")
    _add(tree, "example.com/nogomod", "v1.0.0", src, None)
    _add(tree, "example.com/incompat", "v1.0.0", src, None)
    _add(tree, "example.com/incompat", "v2.0.0+incompatible", src, None)
    _add(tree, "example.com/major/v2", "v2.1.0", src, "module example.com/major/v2\n")
    _add(tree, "example.com/pseudo", "v0.0.0-20240102030405-abcdefabcdef", src, None)
    retract = (
        "module example.com/retract\n\ngo 1.21\n\n"
        "retract v1.0.1 // broken\n\nretract v1.1.0 // self\n"
    )
    _add(tree, "example.com/retract", "v1.0.0", src, "module example.com/retract\n")
    _add(tree, "example.com/retract", "v1.0.1", src, "module example.com/retract\n")
    _add(tree, "example.com/retract", "v1.1.0", src, retract)
    dep = "// Deprecated: use example.com/plain instead.\nmodule example.com/old\n"
    _add(tree, "example.com/old", "v1.0.0", src, dep)
    app = "module example.com/app\n\ngo 1.21\n\nrequire example.com/plain v1.1.0\n"
    _add(tree, "example.com/app", "v1.0.0", src, app)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    t = tmp_path_factory.mktemp("tree")
    build_tree(t)
    return t


def go(args, proxy: str, home: Path, cwd: Path | None = None):
    return run_go(args, go_env(home, proxy), cwd)


@pytest.fixture(scope="module", params=["trio", "asyncio", "sockets"])
def proxy(request, tree, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with serving(
        "--upstream", tree.as_uri(), "--frontend", request.param, cache=cache, stderr=DEVNULL
    ) as served:
        yield served.url


QUERIES = [
    ["list", "-m", "-versions", "example.com/plain"],
    ["list", "-m", "-versions", "example.com/Upper/Case"],
    ["list", "-m", "-versions", "example.com/incompat"],
    ["list", "-m", "-versions", "example.com/major/v2"],
    ["list", "-m", "-versions", "example.com/retract"],
    ["list", "-m", "-retracted", "-versions", "example.com/retract"],
    ["list", "-m", "-json", "example.com/plain@latest"],
    ["list", "-m", "-json", "example.com/Upper/Case@latest"],
    ["list", "-m", "-json", "example.com/incompat@latest"],
    ["list", "-m", "-json", "example.com/pseudo@latest"],
    ["list", "-m", "-json", "example.com/retract@latest"],
    ["list", "-m", "-json", "-retracted", "example.com/retract@v1.0.1"],
    ["list", "-m", "-json", "-u", "example.com/old@v1.0.0"],
    ["mod", "download", "-json", "example.com/plain@v1.1.0"],
    ["mod", "download", "-json", "example.com/Upper/Case@v1.0.0-PRE"],
    ["mod", "download", "-json", "example.com/nogomod@v1.0.0"],
    ["mod", "download", "-json", "example.com/incompat@v2.0.0+incompatible"],
    ["mod", "download", "-json", "example.com/major/v2@v2.1.0"],
    ["mod", "download", "-json", "example.com/app@v1.0.0"],
    ["list", "-m", "-json", "example.com/nosuch@latest"],
]

_VOLATILE = ("Info", "GoMod", "Zip", "Dir", "Query", "GoModSum_path")


def _normal(out: str, home: Path) -> str:
    """Output with this run's temp paths taken out."""
    text = out.replace(str(home), "HOME")
    try:
        docs = [json.loads(d) for d in text.replace("}\n{", "}\x00{").split("\x00") if d.strip()]
    except json.JSONDecodeError:
        return text
    for d in docs:
        for k in _VOLATILE:
            d.pop(k, None)
        if isinstance(d.get("Error"), str):
            d["Error"] = d["Error"].split(": reading", 1)[0]
    return json.dumps(docs, sort_keys=True)


@pytest.mark.parametrize("args", QUERIES, ids=[" ".join(q[-2:]) for q in QUERIES])
def test_go_sees_the_same_through_the_proxy(args, tree, proxy, tmp_path):
    a_home, b_home = tmp_path / "file", tmp_path / "proxy"
    want = go(args, tree.as_uri(), a_home)
    got = go(args, proxy, b_home)
    assert got[0] == want[0], (got, want)
    assert _normal(got[1], b_home) == _normal(want[1], a_home)


def test_go_get_builds_a_graph(tree, proxy, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    assert go(["mod", "init", "example.com/scratch"], proxy, tmp_path, work)[0] == 0
    code, _, err = go(
        ["get", "example.com/app@latest", "example.com/Upper/Case@latest"], proxy, tmp_path, work
    )
    assert code == 0, err
    gomod = (work / "go.mod").read_text()
    assert "example.com/app v1.0.0" in gomod
    assert "example.com/Upper/Case v1.0.0" in gomod
    code, out, err = go(["list", "-m", "all"], proxy, tmp_path, work)
    assert code == 0, err
    assert "example.com/plain v1.1.0" in out.splitlines()


def test_client_side_fallthrough_on_404(tree, proxy, tmp_path):
    other = tmp_path / "other"
    _add(
        other,
        "example.com/elsewhere",
        "v1.0.0",
        {"e.go": "package e\n"},
        "module example.com/elsewhere\n",
    )
    code, out, err = go(
        ["mod", "download", "-json", "example.com/elsewhere@v1.0.0"],
        f"{proxy},{other.as_uri()}",
        tmp_path,
    )
    assert code == 0, err
    assert json.loads(out)["Version"] == "v1.0.0"


def _status_server(status: int):
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"scripted {status}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.mark.parametrize(
    ("status", "falls_through"), [(404, True), (410, True), (403, False), (500, False)]
)
def test_server_side_upstream_list(tree, tmp_path, status, falls_through):
    first = _status_server(status)
    try:
        with serving(
            "--upstream",
            f"http://127.0.0.1:{first.server_address[1]},{tree.as_uri()}",
            cache=tmp_path / "cache",
            env={"GOPROXY_CORE_RETRIES": "0"},
            stderr=DEVNULL,
        ) as served:
            code, out, err = go(
                ["mod", "download", "-json", "example.com/plain@v1.1.0"], served.url, tmp_path
            )
            if falls_through:
                assert code == 0, err
                assert json.loads(out)["Version"] == "v1.1.0"
            else:
                assert code != 0
                assert str(status if status == 403 else 502) in out + err
                assert f"answered {status}" in out + err
    finally:
        first.shutdown()
        first.server_close()


def test_a_remembered_failure_reads_the_same_to_the_go_command(tmp_path):
    """A failed fetch answered again from the store (failure-ttl): the go command prints the
    same status and text as for the first failure, and the upstream is asked once."""
    first = _status_server(500)
    hits = []
    handler = first.RequestHandlerClass
    do_get = handler.do_GET

    def counting(self):
        hits.append(self.path)
        do_get(self)

    handler.do_GET = counting
    try:
        with serving(
            "--upstream",
            f"http://127.0.0.1:{first.server_address[1]}",
            cache=tmp_path / "cache",
            env={"GOPROXY_CORE_RETRIES": "0", "GOPROXY_CORE_FAILURE_TTL": "60"},
            stderr=DEVNULL,
        ) as served:
            args = ["mod", "download", "-json", "example.com/plain@v1.1.0"]
            code, out, err = go(args, served.url, tmp_path / "one")
            assert code != 0
            assert "502 Bad Gateway" in out + err and "answered 500" in out + err, out + err
            asked = len(hits)
            assert asked >= 1
            code2, out2, err2 = go(args, served.url, tmp_path / "two")
            assert code2 == code
            assert (out2 + err2).replace("/two/", "/one/") == out + err
            assert len(hits) == asked
    finally:
        first.shutdown()
        first.server_close()
