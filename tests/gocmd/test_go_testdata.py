"""The go command's own test modules, read directly and through the proxy: the same answers.

``$(go env GOROOT)/src/cmd/go/testdata/mod/*.txt`` are the modules the go command tests itself
against (odd zips, go.mod files that differ from the zip's or do not parse, pseudo-only modules,
retractions, bad versions). cmd/go ``proxy_test.go`` serves them from memory; here a converter
of our own writes them as a GOPROXY file tree, and every query is asked twice with
``GOSUMDB=off``: once with ``GOPROXY=file://tree``, once through a real proxy server whose
upstream is that tree. Query for query, the answers must be equal; the assertion names every
one that is not.

The tree, as the test proxy would serve it (cmd/go ``proxy_test.go`` ``proxyHandler``):

* ``.info`` and ``.mod`` are the archive's files of those names, byte for byte (absent: 404);
* the ``.zip`` holds every other file, under ``module@version/`` (or, for names starting with
  ``/``, under the name itself), written in archive order;
* ``list`` names every version that is not a pseudo-version and passes ``module.Check``; where
  the test proxy answers ``@latest`` itself, the tree lists each pseudo-version with its time
  (the second field the go command's ``latestFromList`` reads), so an untagged module still
  has a latest.

Paths and URLs are taken out of the answers. Where both sides refuse a version, the wording
of the refusal and the zip's fields are not compared (the go command hashes a zip that x/mod
``zip.Unzip`` then refuses; the proxy refuses it at once, by x/mod ``zip.CheckZip``). For
golang.org/toolchain both sides use a list ending in ``off``: the go command insists on a
checksum database for it unless GOPROXY is one file:// URL (cmd/go modfetch/sumdb.go
``useSumDB``). Queries run in parallel go processes, each with its own module cache.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import DEVNULL

from goproxy_core.errors import ProxyError
from goproxy_core.module.escape import escape_path, escape_version, unescape_path, unescape_version
from goproxy_core.module.paths import check
from goproxy_core.module.pseudo import is_pseudo_version
from serving import go_env, run_go, serving

from support import parse_txtar

TOOLCHAIN = "golang.org/toolchain"


def _testdata() -> Path:
    code, out, err = run_go(["env", "GOROOT"], go_env(Path("/nonexistent"), "off"), timeout=60)
    assert code == 0, err
    root = out.strip()
    testdata = Path(root) / "src" / "cmd" / "go" / "testdata" / "mod"
    assert testdata.is_dir(), f"no {testdata}: the go command's test modules ship with its source"
    return testdata


def read_mod_list(testdata: Path) -> list[tuple[str, str, Path]]:
    """(module, version, archive) for each archive, named as ``proxy_test.go`` ``readModList``
    reads them: ``<escaped path with / as _>_<escaped version>.txt``."""
    out = []
    for f in sorted(testdata.glob("*.txt")):
        name = f.name.removesuffix(".txt")
        i = name.rfind("_v")
        if i < 0:
            continue
        try:
            path = unescape_path(name[:i].replace("_", "/"))
            version = unescape_version(name[i + 1 :])
        except ProxyError:
            continue
        out.append((path, version, f))
    return out


def build_tree(tree: Path, mods: list[tuple[str, str, Path]]) -> None:
    """Write the GOPROXY file tree for ``mods`` (see the module docstring)."""
    lists: dict[str, list[str]] = {}
    for path, version, archive in mods:
        d = tree / escape_path(path) / "@v"
        d.mkdir(parents=True, exist_ok=True)
        lines = lists.setdefault(path, [])
        _, files = parse_txtar(archive.read_bytes())
        ev = escape_version(version)
        info = b""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in files:
                if name in (".info", ".mod"):
                    (d / f"{ev}{name}").write_bytes(data)
                    info = data if name == ".info" else info
                elif name != ".zip":
                    z.writestr(
                        name[1:] if name.startswith("/") else f"{path}@{version}/{name}", data
                    )
        (d / f"{ev}.zip").write_bytes(buf.getvalue())
        if not is_pseudo_version(version):
            try:
                check(path, version)
            except ProxyError:
                continue
            lines.append(f"{version}\n")
        elif info:
            t = json.loads(info).get("Time", "")
            lines.append(f"{version} {t}\n" if t else f"{version}\n")
    for path, lines in lists.items():
        (tree / escape_path(path) / "@v" / "list").write_text("".join(lines))


def _batches(mods: list[tuple[str, str, Path]]) -> list[tuple[str, ...]]:
    """Per module: its versions with retractions, its latest, every version and latest
    downloaded, every version listed with its update and retraction (one go command per
    module and kind; each answers per version)."""
    out: list[tuple[str, ...]] = []
    versions: dict[str, list[str]] = {}
    for p, v, _ in mods:
        versions.setdefault(p, []).append(f"{p}@{v}")
    for p, vs in sorted(versions.items()):
        out.append(("list", "-m", "-e", "-json", "-versions", "-retracted", p))
        out.append(("list", "-m", "-e", "-json", f"{p}@latest"))
        out.append(("mod", "download", "-json", *vs, f"{p}@latest"))
        out.append(("list", "-m", "-e", "-json", "-u", "-retracted", *vs))
    return out


# Fields the go command fills in only once it holds the zip: it keeps (and hashes) a zip that
# x/mod ``zip.Unzip`` then refuses, where the proxy refuses the zip at once (x/mod
# ``zip.CheckZip``). Both refuse the version.
_ZIP_FIELDS = ("Error", "Sum", "Zip", "Dir")


def _normal(
    result: tuple[int, str, str], home: Path, proxy: str
) -> tuple[int, str, list[dict[str, object]]]:
    """(exit status, stderr, one JSON answer per module or version) without this side's paths
    and proxy URL."""
    code, out, err = result

    def clean(text: str) -> str:
        return text.replace(str(home), "$HOME").replace(proxy, "$PROXY")

    answers = [
        json.loads(clean(doc)) for doc in out.replace("}\n{", "}\x00{").split("\x00") if doc.strip()
    ]
    return code, clean(err), answers


def _same(x: dict[str, object], y: dict[str, object]) -> bool:
    """Equal answers; where both are errors, the wording of the error (the proxy names the
    upstream and the rule broken) and the zip's fields are not compared."""
    if "Error" in x and "Error" in y:
        x = {k: v for k, v in x.items() if k not in _ZIP_FIELDS}
        y = {k: v for k, v in y.items() if k not in _ZIP_FIELDS}
    return x == y


def _show(d: dict[str, object]) -> str:
    return json.dumps(d, sort_keys=True, indent=1)


class Outcome:
    """What a comparison found: queries asked, those that differ, and go commands whose exit
    status (or, where no answer is an error, stderr) differs."""

    def __init__(self) -> None:
        self.asked = 0
        self.queries: list[str] = []
        self.commands: list[str] = []

    def report(self) -> str:
        return (
            f"{len(self.queries)} of {self.asked} queries differ, "
            f"{len(self.commands)} go commands' exit status or stderr differ:\n"
            + "\n".join(self.queries + self.commands)
        )


def compare(tmp: Path, upstream: str, batches: list[tuple[str, ...]]) -> Outcome:
    """Ask every batch with ``GOPROXY=upstream`` and through a proxy whose upstream it is."""
    outcome = Outcome()
    with serving("--upstream", upstream, cache=tmp / "cache", stderr=DEVNULL) as served:
        url = served.url

        def one(i: int) -> int:
            q = batches[i]
            # The go command insists on a checksum database for golang.org/toolchain unless
            # GOPROXY is one file:// URL (cmd/go modfetch/sumdb.go ``useSumDB``): a list on
            # both sides keeps that rule the same for both.
            tail = ",off" if any(a.startswith(TOOLCHAIN) for a in q) else ""
            a_home, b_home = tmp / "go" / f"{i}-file", tmp / "go" / f"{i}-proxy"
            a_home.mkdir(parents=True)
            b_home.mkdir(parents=True)
            a_code, a_err, a = _normal(
                run_go(q, go_env(a_home, upstream + tail), a_home), a_home, upstream
            )
            b_code, b_err, b = _normal(run_go(q, go_env(b_home, url + tail), b_home), b_home, url)
            shutil.rmtree(a_home, ignore_errors=True)
            shutil.rmtree(b_home, ignore_errors=True)
            cmd = " ".join(q[: q.index("-json") + 1])
            args = [x for x in q[q.index("-json") + 1 :] if not x.startswith("-")]
            if len(a) != len(b) or len(a) != len(args):
                outcome.commands.append(
                    f"go {' '.join(q)}: {len(a)} answers from file://, {len(b)} via proxy"
                )
            for arg, x, y in zip(args, a, b, strict=False):
                if not _same(x, y):
                    outcome.queries.append(
                        f"go {cmd} {arg}\n  file://:\n{_show(x)}\n  proxy:\n{_show(y)}"
                    )
            # stderr repeats the errors in the answers, in each side's words.
            errors = any("Error" in d for d in a + b)
            if a_code != b_code or (not errors and a_err != b_err):
                outcome.commands.append(
                    f"go {' '.join(q)}\n  file://: exit {a_code} {a_err!r}\n"
                    f"  proxy:   exit {b_code} {b_err!r}"
                )
            return len(args)

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcome.asked = sum(pool.map(one, range(len(batches))))
    return outcome


def compare_testdata(tmp: Path) -> Outcome:
    mods = read_mod_list(_testdata())
    tree = tmp / "tree"
    build_tree(tree, mods)
    return compare(tmp, tree.as_uri(), _batches(mods))


def test_go_testdata_modules_through_the_proxy(tmp_path):
    got = compare_testdata(tmp_path)
    assert got.asked > 800
    assert not got.queries and not got.commands, got.report()


def _add(
    tree: Path, path: str, version: str, *, latest: bool = False, gomod: str | None = None
) -> None:
    d = tree / escape_path(path) / "@v"
    d.mkdir(parents=True, exist_ok=True)
    info = json.dumps({"Version": version, "Time": "2024-01-02T03:04:05Z"})
    (d / f"{version}.info").write_text(info)
    (d / f"{version}.mod").write_text(gomod if gomod is not None else f"module {path}\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{path}@{version}/go.mod", f"module {path}\n")
    (d / f"{version}.zip").write_bytes(buf.getvalue())
    if latest:
        (tree / escape_path(path) / "@latest").write_text(info)


def test_two_upstreams_and_odd_files_as_the_go_command_reads_them(tmp_path):
    """GOPROXY=A,B read directly and as the proxy's upstream list: the first upstream that
    has a module answers for it (cmd/go modfetch ``TryProxies``), and its list, not B's
    @latest, decides latest where A has no @latest (proxy.go ``Latest``, ``latestFromList``).
    A list with odd lines and a .mod that does not parse are read by the go command as sent
    (proxy.go ``Versions``, ``GoMod``)."""
    a, b = tmp_path / "a", tmp_path / "b"
    _add(a, "example.com/badmod", "v1.0.0", gomod="this is not a go.mod (\n")
    (a / "example.com/badmod/@v/list").write_text("v1.0.0\n")
    for v in ("v1.0.0", "v1.1.0"):
        _add(a, "example.com/oddlist", v)
    (a / "example.com/oddlist/@v/list").write_bytes(
        b"v1.0.0 2024-01-02T03:04:05Z\r\n\xff\xfe junk\n\nv1.1.0\tmore fields"
    )
    pseudo = "v0.0.0-20240102030405-abcdefabcdef"
    # Untagged in A, whose list names a pseudo-version with its time; tagged in B.
    _add(a, "example.com/untagged", pseudo)
    (a / "example.com/untagged/@v/list").write_text(f"{pseudo} 2024-01-02T03:04:05Z\n")
    _add(b, "example.com/untagged", "v1.0.0", latest=True)
    (b / "example.com/untagged/@v/list").write_text("v1.0.0\n")
    # Known to A with no versions at all; B has one.
    (a / "example.com/empty/@v").mkdir(parents=True)
    (a / "example.com/empty/@v/list").write_text("")
    _add(b, "example.com/empty", "v1.0.0", latest=True)
    (b / "example.com/empty/@v/list").write_text("v1.0.0\n")
    # Only in B.
    _add(b, "example.com/onlyb", "v1.1.0", latest=True)
    (b / "example.com/onlyb/@v/list").write_text("v1.1.0\n")
    batches: list[tuple[str, ...]] = []
    # No tags; @latest names a version its path does not allow, which the go command takes.
    _add(a, "example.com/latestv2", "v2.0.0", latest=True)
    (a / "example.com/latestv2/@v/list").write_text("")
    modules = ("untagged", "empty", "onlyb", "badmod", "oddlist", "latestv2")
    for m in (f"example.com/{m}" for m in modules):
        batches.append(("list", "-m", "-e", "-json", "-versions", m))
        batches.append(("list", "-m", "-e", "-json", f"{m}@latest"))
        batches.append(("mod", "download", "-json", f"{m}@latest"))
    got = compare(tmp_path, f"{a.as_uri()},{b.as_uri()}", batches)
    assert got.asked == 3 * len(modules)
    assert not got.queries and not got.commands, got.report()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        print(compare_testdata(Path(d)).report())
