"""``goproxy warm`` as a command: arguments, exit statuses, the toolchain, the progress bar.

What it fetches is judged against the go command in tests/gocmd/test_warm_go.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from goproxy_cli.warm import LocalGo, _Bar, local_go, read_inputs
from goproxy_core.proxy.warm import TOOLCHAIN_MODULE, WarmInputError, WarmItem
from goproxy_io.warm import FileOutcome
from serving import goproxy

T = "2024-01-02T03:04:05Z"


def _tree(root: Path) -> Path:
    d = root / "example.com/a/@v"
    d.mkdir(parents=True)
    (d / "v1.0.0.info").write_text(json.dumps({"Version": "v1.0.0", "Time": T}))
    (d / "v1.0.0.mod").write_text("module example.com/a\n\ngo 1.21\n")
    import zipfile

    with zipfile.ZipFile(d / "v1.0.0.zip", "w") as z:
        z.writestr("example.com/a@v1.0.0/go.mod", "module example.com/a\n\ngo 1.21\n")
        z.writestr("example.com/a@v1.0.0/a.go", "package a\n")
    return root


def _warm(tmp_path: Path, *args: str):
    tree = _tree(tmp_path / "tree") if not (tmp_path / "tree").exists() else tmp_path / "tree"
    return goproxy(
        "warm", "--cache-dir", str(tmp_path / "cache"), "--upstream", tree.as_uri(), *args
    )


def test_a_module_version_is_fetched_then_found(tmp_path):
    r = _warm(tmp_path, "--go-version", "1.22.0", "example.com/a@v1.0.0")
    assert r.returncode == 0, r.stderr
    assert "1 versions, 3 files" in r.stdout and "3 fetched" in r.stdout, r.stdout
    assert (tmp_path / "cache/example.com/a/@v/v1.0.0.zip").is_file()
    r = _warm(tmp_path, "--go-version", "1.22.0", "example.com/a@v1.0.0")
    assert "0 fetched (0 B), 3 already cached, 0 failed" in r.stdout, r.stdout


def test_the_toolchain_a_gomod_selects_is_planned(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "go.mod").write_text(
        "module example.com/p\n\ngo 1.21\n\ntoolchain go1.99.1\n\nrequire example.com/a v1.0.0\n"
    )
    args = ["--go-version", "1.22.0", "--goos", "plan9", "--goarch", "arm", str(project)]
    r = _warm(tmp_path, *args)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"failed {TOOLCHAIN_MODULE}/@v/v0.0.1-go1.99.1.plan9-arm.info: 404" in r.stdout
    assert (tmp_path / "cache/example.com/a/@v/v1.0.0.zip").is_file()


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["nosuchfile"], "nosuchfile: no such file or directory, and not module@version"),
        (["example.com/a@master"], "invalid version"),
        (["--jobs", "0", "example.com/a@v1.0.0"], "jobs: too small"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, args, text):
    r = _warm(tmp_path, *args)
    assert r.returncode == 2
    assert text in r.stderr, r.stderr


def test_read_inputs(tmp_path):
    go = LocalGo("1.22.0", "linux", "amd64")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WarmInputError, match=r"no go\.work, go\.sum or go\.mod"):
        read_inputs([str(empty)], go)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "go.work").write_text("go 1.30\n\nuse ./m\n")
    got = read_inputs([str(ws)], go)
    assert [p.name for p, _ in got.works] == ["go.work"]
    assert got.items == [WarmItem(TOOLCHAIN_MODULE, "v0.0.1-go1.30.0.linux-amd64", True)]
    sums = tmp_path / "deps.sum"
    sums.write_text("example.com/a v1.0.0 h1:x=\n")
    assert read_inputs([str(sums)], LocalGo()).items == [WarmItem("example.com/a", "v1.0.0", True)]
    mod = tmp_path / "m"
    mod.mkdir()
    (mod / "go.mod").write_text("module example.com/m\n\ngo 1.99\n")
    (mod / "go.sum").write_text("")
    got = read_inputs([str(mod)], go)  # a go.sum: its lines, and the go.mod's toolchain
    assert got.gomods == [] and got.items[0].module == TOOLCHAIN_MODULE
    (mod / "go.mod").write_text("module example.com/m\nbogus\n")
    with pytest.raises(WarmInputError, match="unknown directive"):
        read_inputs([str(mod / "go.mod")], go)


def test_local_go_flags_win():
    go = local_go("1.21.3", "linux", "riscv64")
    assert (go.version, go.goos, go.goarch) == ("1.21.3", "linux", "riscv64")
    found = local_go(None, None, None)  # from the go command on PATH
    assert found.version.startswith("1.") and found.goos and found.goarch


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal():
    quiet = io.StringIO()
    bar = _Bar(quiet)
    bar.start(2)
    bar.step(FileOutcome("k"))
    bar.close()
    assert quiet.getvalue() == ""
    tty = _Tty()
    bar = _Bar(tty)
    bar.start(2)
    bar.step(FileOutcome("a"))
    bar.step(FileOutcome("b", error="404 not found"))
    bar.close()
    assert "warm" in tty.getvalue()
