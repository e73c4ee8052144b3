"""The catalog: what the cache holds, as an HTML page for people and JSON for programs.

Theory of operation: the core decides and renders, the caller only tells. A request for the
index page from a browser (``Accept`` naming ``text/html``), for a module's page
(``-/module/<path>``) or for ``/catalog`` yields one ``ReadCatalog`` effect; the caller
answers with a :class:`CatalogData` (from its usage index, or by listing the store:
:func:`catalog_from_files`), and the flow (``engine.catalog``) renders it here. A module page
also reads the stored go.mod of the module's highest stored version (``ReadBlob``) for its
retractions and its deprecation, as the go command reads them from the latest go.mod (cmd/go
modload ``queryLatestVersionIgnoringRetractions``, ``CheckRetractions``, ``CheckDeprecation``).

The pages need no build step and no other file: the style and the script are inline, and the
``Content-Security-Policy`` allows exactly those two by their SHA-256 (computed once here: the
core has no randomness for nonces), ``fetch`` to the proxy itself, and nothing else. Every text
that comes from a request or the store (module paths, versions, the ``Host`` header, go.mod
comments) is HTML-escaped, and the script writes only through ``textContent``.

``/catalog`` answers as Athens's catalog does: ``{"modules": [{"module", "version"}, …],
"next": token}`` with ``next`` left out on the last page; each entry also carries its ``size``
(bytes), ``last_use`` (RFC 3339, UTC) and ``uses``. Parameters: ``n`` (or ``pagesize``, 1 to
1000, default 1000), ``token`` (the last page's ``next``), and ``q`` (module paths containing
it, case-insensitive).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import re
from typing import TYPE_CHECKING, Final

import msgspec

from ..errors import ProxyError
from ..module.escape import escape_path
from ..semver import sort_versions
from .effects import FreeSpace  # noqa: TC001 - msgspec reads CatalogData's annotations
from .proxylist import UpstreamKind
from .quota import unit_of
from .targets import MODULE_PAGE, encode_page_token
from .versions import Retraction, retraction_for

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .config import CompiledConfig
    from .effects import ReadCatalog

__all__ = [
    "CATALOG_CSP",
    "CATALOG_SCRIPT",
    "CATALOG_STYLE",
    "CatalogData",
    "CatalogVersion",
    "Marks",
    "ModuleUse",
    "PageContext",
    "UpstreamHealth",
    "catalog_from_files",
    "catalog_json",
    "page_context",
    "render_index",
    "render_module",
    "select_versions",
    "top_modules",
]


class CatalogVersion(msgspec.Struct, frozen=True):
    """One stored module version.

    Attributes:
        module: the module path.
        version: the version.
        bytes: what its files take.
        last_use: when a client last got one of its files (seconds since the epoch; without
            a usage index: when its newest file was stored).
        uses: answers of its files counted (0 without a usage index).
    """

    module: str
    version: str
    bytes: int = 0
    last_use: float = 0.0
    uses: int = 0


class ModuleUse(msgspec.Struct, frozen=True):
    """One module's versions summed, for the top lists."""

    module: str
    versions: int = 0
    bytes: int = 0
    last_use: float = 0.0
    uses: int = 0


class UpstreamHealth(msgspec.Struct, frozen=True):
    """An upstream's circuit breaker as its caller sees it.

    Attributes:
        url: the GOPROXY entry's base URL (the breaker's key).
        state: ``closed`` (asked as usual), ``open`` (skipped after consecutive timeouts or
            connect failures), ``half-open`` (one probe let through), or ``unknown``.
        failures: the consecutive failures counted.
        retry_in: seconds until an open breaker lets a probe through.
    """

    url: str
    state: str = "closed"
    failures: int = 0
    retry_in: float = 0.0


class Marks(msgspec.Struct, frozen=True):
    """What a module's go.mod says of it and its versions (the go.mod of its highest stored
    version that has one, ``gomod_version``; "" when none was read)."""

    gomod_version: str = ""
    deprecated: str = ""
    retractions: tuple[Retraction, ...] = ()


class CatalogData(msgspec.Struct, frozen=True):
    """The answer to ``ReadCatalog``.

    Attributes:
        available: False when the caller cannot tell (``why`` says why).
        why: why not, in words.
        versions: the versions asked for (see ``ReadCatalog``), in (module, version) order.
        more: more versions match past ``limit``.
        total_bytes: what the whole cache takes (None: unknown).
        file_count: its files (None: unknown).
        version_count: the module versions stored (None: unknown).
        module_count: the modules stored (None: unknown).
        free: the free space of the cache's file system (None: unknown).
        most_requested: the modules most asked for (``uses``), most first.
        most_recent: the modules last used, most recent first.
        upstreams: each upstream's circuit breaker.
        prefetch: the background prefetch counters, (name, count).
        sumdb_key: the own checksum database's verifier key ("" unknown or none).
        source: where it came from (``usage index``, ``store listing``), for the page.
        complete: False when a store listing stopped at its bound: totals count only what
            was listed.
    """

    available: bool = True
    why: str = ""
    versions: tuple[CatalogVersion, ...] = ()
    more: bool = False
    total_bytes: int | None = None
    file_count: int | None = None
    version_count: int | None = None
    module_count: int | None = None
    free: FreeSpace | None = None
    most_requested: tuple[ModuleUse, ...] = ()
    most_recent: tuple[ModuleUse, ...] = ()
    upstreams: tuple[UpstreamHealth, ...] = ()
    prefetch: tuple[tuple[str, int], ...] = ()
    sumdb_key: str = ""
    source: str = ""
    complete: bool = True


# -- selecting (the pure half of answering ReadCatalog) ------------------------------------------


def select_versions(
    versions: Iterable[CatalogVersion], effect: ReadCatalog
) -> tuple[tuple[CatalogVersion, ...], bool]:
    """The versions ``effect`` asks for out of ``versions`` (any order), and whether more
    match: filtered by ``module`` and ``search``, after ``after``, ordered by (module,
    version), at most ``limit``."""
    needle = effect.search.lower()
    picked = sorted(
        (
            v
            for v in versions
            if (not effect.module or v.module == effect.module)
            and (not needle or needle in v.module.lower())
            and (effect.after is None or (v.module, v.version) > effect.after)
        ),
        key=lambda v: (v.module, v.version),
    )
    return tuple(picked[: effect.limit]), len(picked) > effect.limit


def top_modules(
    versions: Iterable[CatalogVersion], n: int
) -> tuple[tuple[ModuleUse, ...], tuple[ModuleUse, ...]]:
    """The ``n`` most requested modules (with uses counted) and the ``n`` most recently
    used ones."""
    mods: dict[str, ModuleUse] = {}
    for v in versions:
        m = mods.get(v.module)
        if m is None:
            mods[v.module] = ModuleUse(v.module, 1, v.bytes, v.last_use, v.uses)
        else:
            mods[v.module] = ModuleUse(
                v.module,
                m.versions + 1,
                m.bytes + v.bytes,
                max(m.last_use, v.last_use),
                m.uses + v.uses,
            )
    requested = sorted((m for m in mods.values() if m.uses), key=lambda m: (-m.uses, m.module))
    recent = sorted(mods.values(), key=lambda m: (-m.last_use, m.module))
    return tuple(requested[:n]), tuple(recent[:n])


def catalog_from_files(
    files: Iterable[tuple[str, int, float]], effect: ReadCatalog, *, complete: bool = True
) -> CatalogData:
    """Answer ``effect`` from a listing of the store: (key, bytes, time stored) per file.

    For a store without a usage index (a memory store, an embedder's): a version's bytes are
    its files', its last use the time its newest file was stored, its uses unknown (0). The
    caller bounds the listing and says whether it is ``complete``.
    """
    units: dict[str, CatalogVersion] = {}
    total = count = 0
    for key, size, mtime in files:
        total += size
        count += 1
        unit = unit_of(key)
        if unit is None:
            continue
        old = units.get(unit.unit)
        if old is None:
            units[unit.unit] = CatalogVersion(unit.module, unit.version, size, mtime)
        else:
            units[unit.unit] = CatalogVersion(
                old.module, old.version, old.bytes + size, max(old.last_use, mtime)
            )
    versions, more = select_versions(units.values(), effect)
    if not effect.summary:
        return CatalogData(versions=versions, more=more, source="store listing", complete=complete)
    requested, recent = top_modules(units.values(), effect.top)
    return CatalogData(
        versions=versions,
        more=more,
        total_bytes=total,
        file_count=count,
        version_count=len(units),
        module_count=len({v.module for v in units.values()}),
        most_requested=requested,
        most_recent=recent,
        source="store listing",
        complete=complete,
    )


# -- the request's side ------------------------------------------------------------------------


class PageContext(msgspec.Struct, frozen=True):
    """What the pages take from the request: how the client reached the proxy.

    Attributes:
        origin: ``scheme://host[:port]`` from the ``Host`` header (and ``X-Forwarded-Proto``),
            "" when the header is missing or not a host name.
        html: the ``Accept`` header names ``text/html`` (a browser).
    """

    origin: str = ""
    html: bool = False


_HOST: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)


def page_context(headers: Sequence[tuple[bytes, bytes]]) -> PageContext:
    """The :class:`PageContext` of a request's headers (lower-case names)."""
    host = proto = b""
    html_ok = False
    for name, value in headers:
        if name == b"host":
            host = value.strip()
        elif name == b"x-forwarded-proto":
            proto = value.strip().lower()
        elif name == b"accept":
            html_ok = html_ok or _names_html(value)
    scheme = "https" if proto == b"https" else "http"
    text = host.decode("ascii", "replace")
    origin = f"{scheme}://{text}" if _HOST.fullmatch(text) else ""
    return PageContext(origin=origin, html=html_ok)


def _names_html(accept: bytes) -> bool:
    """Whether an ``Accept`` value names ``text/html`` with a quality above 0 (RFC 9110
    §12.5.1)."""
    for item in accept.split(b","):
        kind, *params = item.split(b";")
        if kind.strip().lower() != b"text/html":
            continue
        for p in params:
            name, _, value = p.partition(b"=")
            if name.strip().lower() == b"q":
                try:
                    if float(value.strip()) <= 0:
                        break
                except ValueError:
                    break
        else:
            return True
    return False


# -- rendering ---------------------------------------------------------------------------------

CATALOG_STYLE: Final = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:62em;padding:1em 1.5em;
color:#1d1d1f;background:#fff}
h1{font-size:1.5em;margin:.3em 0}h2{font-size:1.15em;margin:1.4em 0 .4em;
border-bottom:1px solid #ddd}
pre,code{font:13px/1.4 ui-monospace,monospace}pre{background:#f4f4f6;padding:.6em .8em;
overflow-x:auto;border-radius:4px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.2em .6em .2em 0;
border-bottom:1px solid #eee;vertical-align:top}th{font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#176f2c}.bad{color:#b3261e}.warn{color:#8a5a00}.muted{color:#666}
.mark{display:inline-block;padding:0 .4em;border-radius:3px;font-size:.85em}
.retracted{background:#fde7e4;color:#b3261e}.deprecated{background:#fff4d6;color:#8a5a00}
input[type=search]{font-size:1em;padding:.35em .5em;width:100%;max-width:30em}
ul.plain{padding-left:1.2em}meter{width:16em}
"""
"""The pages' inline style sheet (allowed by its hash)."""

CATALOG_SCRIPT: Final = """
"use strict";
(function () {
  var base = document.body.getAttribute("data-base") || "";
  var box = document.getElementById("q");
  var list = document.getElementById("results");
  var note = document.getElementById("found");
  if (!box || !list || !note) { return; }
  var timer = null;
  var asked = 0;
  function size(n) {
    var units = [["GiB", 1073741824], ["MiB", 1048576], ["KiB", 1024]];
    for (var i = 0; i < units.length; i++) {
      if (n >= units[i][1]) { return (n / units[i][1]).toFixed(1) + " " + units[i][0]; }
    }
    return n + " bytes";
  }
  function escapePath(p) {
    return p.replace(/[A-Z]/g, function (c) { return "!" + c.toLowerCase(); });
  }
  function show(data) {
    list.textContent = "";
    var byModule = {};
    var order = [];
    data.modules.forEach(function (m) {
      if (!byModule.hasOwnProperty(m.module)) { byModule[m.module] = []; order.push(m.module); }
      byModule[m.module].push(m);
    });
    order.forEach(function (name) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = base + "/-/module/" + escapePath(name);
      a.textContent = name;
      li.appendChild(a);
      var first = byModule[name][0];
      if (first.deprecated) {
        var dep = document.createElement("span");
        dep.className = "mark deprecated";
        dep.title = first.deprecated;
        dep.textContent = "deprecated";
        li.appendChild(document.createTextNode(" "));
        li.appendChild(dep);
      }
      var versions = document.createElement("ul");
      byModule[name].forEach(function (v) {
        var item = document.createElement("li");
        var code = document.createElement("code");
        code.textContent = v.version;
        item.appendChild(code);
        if (v.retracted) {
          var r = document.createElement("span");
          r.className = "mark retracted";
          r.title = v.retracted;
          r.textContent = "retracted";
          item.appendChild(document.createTextNode(" "));
          item.appendChild(r);
        }
        var span = document.createElement("span");
        span.className = "muted";
        span.textContent = " " + size(v.size) + ", last used " +
          v.last_use.replace("T", " ").replace("Z", " UTC");
        item.appendChild(span);
        versions.appendChild(item);
      });
      li.appendChild(versions);
      list.appendChild(li);
    });
    var more = data.next ? " (more: narrow the search)" : "";
    note.textContent = order.length
      ? order.length + (order.length === 1 ? " module" : " modules") + more
      : "no cached module matches";
  }
  function search() {
    var q = box.value.trim();
    var mine = ++asked;
    if (!q) { list.textContent = ""; note.textContent = ""; return; }
    fetch(base + "/catalog?n=200&marks=1&q=" + encodeURIComponent(q), {
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(function (data) {
      if (mine === asked) { show(data); }
    }).catch(function (e) {
      if (mine === asked) { note.textContent = "search failed: " + e.message; }
    });
  }
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 150);
  });
  box.addEventListener("keydown", function (e) {
    if (e.key === "Enter") { clearTimeout(timer); search(); }
  });
  if (box.value) { search(); }
})();
"""
"""The index page's inline script: the search box, over ``/catalog?q=`` (allowed by its
hash)."""


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CATALOG_CSP: Final = (
    "default-src 'none'; "
    f"script-src {_sha256_source(CATALOG_SCRIPT)}; "
    f"style-src {_sha256_source(CATALOG_STYLE)}; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""The pages' ``Content-Security-Policy``: the inline style and script by hash, nothing else."""

PAGE_HEADERS: Final = (
    ("content-security-policy", CATALOG_CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("vary", "Accept"),
)
"""Header fields of every catalog answer (HTML and JSON)."""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


def _when(t: float) -> str:
    if t <= 0:
        return "never"
    try:
        d = datetime.datetime.fromtimestamp(t, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return "unknown"
    return d.strftime("%Y-%m-%d %H:%M UTC")


def rfc3339(t: float) -> str:
    """``t`` as an RFC 3339 UTC time (``1970-01-01T00:00:00Z`` for unknown)."""
    try:
        d = datetime.datetime.fromtimestamp(max(0.0, t), datetime.UTC)
    except (OverflowError, OSError, ValueError):
        d = datetime.datetime.fromtimestamp(0, datetime.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _redact(url: str) -> str:
    """An upstream URL without credentials (``https://user:pass@host`` → ``https://host``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.rpartition('@')[2]}{slash}{path}"


def _page(title: str, base: str, body: str, *, script: bool) -> bytes:
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{_e(title)}</title><style>{CATALOG_STYLE}</style></head>",
        f'<body data-base="{_e(base)}">',
        body,
    ]
    if script:
        parts.append(f"<script>{CATALOG_SCRIPT}</script>")
    parts.append("</body></html>\n")
    return "".join(parts).encode()


def module_anchor(base: str, module: str) -> str:
    """A link to the module's page (its path escaped as a GOPROXY path is, then
    HTML-escaped); the bare name for a path no module can have."""
    try:
        href = f"{base}/{MODULE_PAGE}{escape_path(module)}"
    except ProxyError:
        return _e(module)
    return f'<a href="{_e(href)}">{_e(module)}</a>'


def _proxy_url(ctx: PageContext, cfg: CompiledConfig) -> str:
    origin = ctx.origin or "http://<this proxy's host:port>"
    return origin + cfg.base_path


def _setup(ctx: PageContext, cfg: CompiledConfig, data: CatalogData) -> str:
    url = _proxy_url(ctx, cfg)
    c = cfg.config
    lines = [f"GOPROXY={url}"]
    notes = []
    if c.own_sumdb:
        key = data.sumdb_key or f"<the verifier key: goproxy sumdb key --name {c.own_sumdb}>"
        lines.append(f'GOSUMDB="{key} {url}/sumdb/{c.own_sumdb}"')
        notes.append(
            f"This proxy runs its own checksum database, {_e(c.own_sumdb)}: the GOSUMDB line "
            "above makes the go command verify every module against it."
        )
    for db in c.sumdb:
        notes.append(
            f"The checksum database {_e(db.name)} is relayed at <code>"
            f"{_e(url)}/sumdb/{_e(db.name)}/</code>, verified before anything is kept: a go "
            "command whose GOSUMDB names it reaches it through this proxy."
        )
    if c.private:
        lines.append(f"GONOSUMDB={c.private}")
        notes.append(
            "Modules matching the private patterns come from their repositories through this "
            "proxy and are in no public checksum database: GONOSUMDB keeps the go command "
            "from asking one."
        )
    out = ['<h2>Use this proxy</h2><pre id="setup">']
    out.append(_e("\n".join(f"go env -w {line}" for line in lines)))
    out.append("</pre>")
    out += [f"<p>{n}</p>" for n in notes]
    return "".join(out)


def _upstreams(cfg: CompiledConfig, data: CatalogData) -> str:
    health = {u.url: u for u in data.upstreams}
    rows = []
    for up in cfg.upstreams:
        kind = up.kind.value
        h = health.get(up.url)
        if up.kind is UpstreamKind.OFF:
            state = '<span class="muted">cache only: nothing is fetched</span>'
        elif up.kind is UpstreamKind.DIRECT:
            state = '<span class="muted">modules come from their repositories</span>'
        elif up.kind is UpstreamKind.FILE:
            state = '<span class="muted">a local directory</span>'
        elif h is None:
            state = '<span class="muted">not known</span>'
        elif h.state == "open":
            state = (
                f'<span class="bad">skipped: circuit breaker open after {h.failures} '
                f"consecutive failures, next try in {h.retry_in:.0f} s</span>"
            )
        elif h.state == "half-open":
            state = '<span class="warn">probing after failures</span>'
        elif h.state == "closed":
            suffix = f" ({h.failures} recent failures)" if h.failures else ""
            state = f'<span class="ok">answering{_e(suffix)}</span>'
        else:
            state = f'<span class="muted">{_e(h.state)}</span>'
        sep = " |" if up.fall_through_on_error else ""
        rows.append(
            f"<tr><td><code>{_e(_redact(up.url))}</code>{sep}</td><td>{_e(kind)}</td>"
            f"<td>{state}</td></tr>"
        )
    return (
        '<h2>Upstreams</h2><table id="upstreams"><tr><th>Upstream</th><th>Kind</th>'
        "<th>State</th></tr>" + "".join(rows) + "</table>"
    )


def _store(cfg: CompiledConfig, data: CatalogData) -> str:
    c = cfg.config
    out = ["<h2>Store</h2>"]
    if not data.available:
        out.append(f'<p class="muted">Not available: {_e(data.why)}</p>')
        return "".join(out)
    total = data.total_bytes
    if c.max_cache_size:
        used = _size(total)
        out.append(f"<p>{_e(used)} of {_e(_size(c.max_cache_size))} (max-cache-size)")
        if total is not None:
            out.append(f' <meter min="0" max="{c.max_cache_size}" value="{total}"></meter>')
        out.append("</p>")
    else:
        out.append(f"<p>{_e(_size(total))} used; no max-cache-size: the cache is not pruned.</p>")
    facts = []
    if data.file_count is not None:
        facts.append(f"{data.file_count} files")
    if data.version_count is not None:
        facts.append(f"{data.version_count} module versions")
    if data.module_count is not None:
        facts.append(f"{data.module_count} modules")
    if facts:
        out.append(f"<p>{_e(', '.join(facts))}")
        if not data.complete:
            out.append(" (the listing stopped at its bound: at least this many)")
        out.append(f' <span class="muted">({_e(data.source)})</span></p>')
    if data.free is not None:
        low = data.free.free < c.min_free_space
        cls = "bad" if low else "ok"
        floor = f", min-free-space {_size(c.min_free_space)}" if c.min_free_space else ""
        out.append(
            f'<p class="{cls}">{_e(_size(data.free.free))} free on {_e(data.free.where)}'
            f"{_e(floor)}</p>"
        )
    if data.prefetch:
        counts = ", ".join(f"{name} {n}" for name, n in data.prefetch)
        out.append(f'<p class="muted">Prefetch: {_e(counts)}</p>')
    return "".join(out)


def _module_list(
    base: str, mods: Sequence[ModuleUse], ident: str, empty: str, *, uses: bool
) -> str:
    if not mods:
        return f'<p id="{ident}" class="muted">{_e(empty)}</p>'
    rows = []
    for m in mods:
        what = f"{m.uses} uses" if uses else f"last used {_when(m.last_use)}"
        vs = "version" if m.versions == 1 else "versions"
        rows.append(
            f"<tr><td>{module_anchor(base, m.module)}</td>"
            f'<td class="n">{m.versions} {vs}</td><td class="n">{_e(_size(m.bytes))}</td>'
            f"<td>{_e(what)}</td></tr>"
        )
    return f'<table id="{ident}">' + "".join(rows) + "</table>"


def render_index(ctx: PageContext, cfg: CompiledConfig, data: CatalogData) -> bytes:
    """The index page for a browser: setup lines, upstreams, the store, top modules, search."""
    base = cfg.base_path
    body = [
        "<h1>goproxy-core</h1>",
        "<p>A Go module proxy. It caches the modules the go command asks for.</p>",
        _setup(ctx, cfg, data),
        "<h2>Search the cache</h2>",
        '<p><input id="q" type="search" placeholder="module path, e.g. example.com/m" '
        'autocomplete="off" aria-label="search cached modules"></p>',
        '<p id="found" class="muted"></p><ul id="results" class="plain"></ul>',
        "<h2>Most requested</h2>",
        _module_list(
            base,
            data.most_requested,
            "most-requested",
            "Nothing counted yet (uses are counted when a quota is set: max-cache-size or "
            "min-free-space).",
            uses=True,
        ),
        "<h2>Most recent</h2>",
        _module_list(base, data.most_recent, "most-recent", "The cache is empty.", uses=False),
        _store(cfg, data),
        _upstreams(cfg, data),
        f'<p class="muted">The same as JSON: <a href="{_e(base)}/catalog">{_e(base)}/catalog</a>'
        " (Athens's shape: n, token, q).</p>",
    ]
    return _page("goproxy-core: Go module proxy", base, "".join(body), script=True)


def render_module(
    ctx: PageContext,
    cfg: CompiledConfig,
    module: str,
    data: CatalogData,
    *,
    gomod_version: str = "",
    deprecated: str = "",
    retractions: Sequence[Retraction] = (),
) -> bytes:
    """A module's page: its stored versions (newest first) with sizes, last use, uses and
    retraction marks, and its deprecation, from the go.mod of ``gomod_version``."""
    base = cfg.base_path
    body = [
        f'<p><a href="{_e(base)}/">&larr; all modules</a></p>',
        f'<h1 id="module">{_e(module)}</h1>',
    ]
    if deprecated:
        body.append(
            f'<p id="deprecated"><span class="mark deprecated">deprecated</span> '
            f"{_e(deprecated)}</p>"
        )
    if not data.available:
        body.append(f'<p class="muted">Not available: {_e(data.why)}</p>')
    elif not data.versions:
        body.append('<p class="muted">No version of this module is cached.</p>')
    else:
        by_version = {v.version: v for v in data.versions}
        ordered = [by_version[x] for x in highest_versions(data.versions)]
        rows = []
        for v in ordered:
            r = retraction_for(v.version, retractions)
            mark = ""
            if r is not None:
                why = f": {r.rationale}" if r.rationale else ""
                mark = f'<span class="mark retracted">retracted</span>{_e(why)}'
            rows.append(
                f"<tr><td><code>{_e(v.version)}</code></td>"
                f'<td class="n">{_e(_size(v.bytes))}</td><td>{_e(_when(v.last_use))}</td>'
                f'<td class="n">{v.uses}</td><td>{mark}</td></tr>'
            )
        body.append(
            '<table id="versions"><tr><th>Version</th><th>Size</th><th>Last use</th>'
            "<th>Uses</th><th></th></tr>" + "".join(rows) + "</table>"
        )
        if data.more:
            body.append(f'<p class="muted">The first {len(ordered)} versions only.</p>')
        if gomod_version:
            body.append(
                '<p class="muted">Retractions and deprecation from the go.mod of '
                f"{_e(gomod_version)}, the highest version stored.</p>"
            )
    latest = (
        f"go get {module}@latest"
        if not ctx.origin
        else (f"GOPROXY={_proxy_url(ctx, cfg)} go get {module}@latest")
    )
    body.append(f"<h2>Get it</h2><pre>{_e(latest)}</pre>")
    return _page(f"{module}: goproxy-core", base, "".join(body), script=False)


def highest_versions(versions: Iterable[CatalogVersion]) -> list[str]:
    """The versions, highest first (``semver.Sort`` order, reversed)."""
    return sort_versions([v.version for v in versions])[::-1]


def catalog_json(
    data: CatalogData, marks: dict[str, Marks] | None = None, *, last: CatalogVersion | None = None
) -> bytes:
    """The ``/catalog`` body: Athens's ``modules`` and ``next`` (left out on the last page),
    each entry with its ``size``, ``last_use`` and ``uses`` too; with ``marks``, the entries
    of the modules it has also carry ``retracted`` (the rationale, or ``"retracted"``; "" for
    none) and ``deprecated`` (the message, or ""). ``last``: the version the next page
    starts after, when ``data.versions`` was filtered (default: its last)."""
    entries: list[dict[str, object]] = []
    for v in data.versions:
        entry: dict[str, object] = {
            "module": v.module,
            "version": v.version,
            "size": v.bytes,
            "last_use": rfc3339(v.last_use),
            "uses": v.uses,
        }
        m = marks.get(v.module) if marks is not None else None
        if m is not None:
            r = retraction_for(v.version, m.retractions)
            entry["retracted"] = "" if r is None else (r.rationale or "retracted")
            entry["deprecated"] = m.deprecated
        entries.append(entry)
    out: dict[str, object] = {"modules": entries}
    if last is None and data.versions:
        last = data.versions[-1]
    if data.more and last is not None:
        out["next"] = encode_page_token(last.module, last.version)
    return msgspec.json.encode(out)
