"""From a module path to its repository: static rules, go-get discovery, go-import tags.

The tables follow golang/go ``src/cmd/go/internal/vcs/vcs_test.go`` and ``discovery_test.go``;
the expected texts of the markup and URL cases were recorded from Go 1.26 (``encoding/xml``
in non-strict mode, ``net/url.Parse``).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goproxy_core import LocalProtocolError, PrefixPatterns, error_status
from goproxy_core.direct import (
    DiscoveryGet,
    DiscoveryResult,
    ImportMismatchError,
    MetaImport,
    ProbeRepo,
    RepoResolveError,
    RepoRoot,
    UnsupportedVCSError,
    discovery_url,
    match_general,
    match_go_import,
    parse_meta_go_imports,
    proc_inst,
    require_git,
    resolve_repo,
    validate_repo_root,
)

NO_HOST = "dial tcp: lookup: no such host"


class Web:
    """Answers a resolution flow from a script: pages by URL, working repository URLs."""

    def __init__(
        self, pages: dict[str, DiscoveryResult] | None = None, repos: tuple[str, ...] = ()
    ) -> None:
        self.pages = pages or {}
        self.repos = set(repos)
        self.asked: list[object] = []

    def answer(self, query: object) -> object:
        self.asked.append(query)
        if isinstance(query, DiscoveryGet):
            return self.pages.get(query.url, DiscoveryResult(0, error=NO_HOST))
        assert isinstance(query, ProbeRepo)
        return query.url in self.repos

    def run(self, path: str, insecure: str = "") -> RepoRoot:
        flow = resolve_repo(path, PrefixPatterns(insecure))
        try:
            query = next(flow)
            while True:
                query = flow.send(self.answer(query))
        except StopIteration as stop:
            return stop.value

    def urls(self) -> list[str]:
        return [q.url for q in self.asked]  # type: ignore[attr-defined]


def meta(content: str) -> str:
    return f'<meta name="go-import" content="{content}">'


def page(*contents: str, status: int = 200) -> DiscoveryResult:
    head = "".join(meta(c) for c in contents)
    return DiscoveryResult(status, f"<!DOCTYPE html><html><head>{head}</head><body>x".encode())


def resolve_error(web: Web, path: str, insecure: str = "") -> str:
    with pytest.raises(RepoResolveError) as info:
        web.run(path, insecure)
    assert error_status(info.value) == 404
    assert info.value.path == path
    return str(info.value)


# --------------------------------------------------------------------------------------------
# Static rules (vcs_test.go TestRepoRootForImportPath)

STATIC = [
    ("github.com/golang/groupcache", "github.com/golang/groupcache", "git"),
    ("github.com/golang/groupcache/lru/x", "github.com/golang/groupcache", "git"),
    ("hub.jazz.net/git/user1/pkgname", "hub.jazz.net/git/user1/pkgname", "git"),
    (
        "hub.jazz.net/git/user1/pkgname/submodule/submodule/submodule",
        "hub.jazz.net/git/user1/pkgname",
        "git",
    ),
    ("hub.jazz.net/git/user/pkg.name", "hub.jazz.net/git/user/pkg.name", "git"),
    ("git.openstack.org/openstack/swift", "git.openstack.org/openstack/swift", "git"),
    # A trailing .git stays part of the root (the element pattern takes dots).
    ("git.openstack.org/openstack/swift.git", "git.openstack.org/openstack/swift.git", "git"),
    (
        "git.openstack.org/openstack/swift/go/hummingbird",
        "git.openstack.org/openstack/swift",
        "git",
    ),
    ("git.apache.org/package-name.git", "git.apache.org/package-name.git", "git"),
    (
        "git.apache.org/package-name_2.x.git/path/to/lib",
        "git.apache.org/package-name_2.x.git",
        "git",
    ),
    (
        "chiselapp.com/user/kyle/repository/fossilgg",
        "chiselapp.com/user/kyle/repository/fossilgg",
        "fossil",
    ),
    ("bitbucket.org/workspace/pkgname", "bitbucket.org/workspace/pkgname", "git"),
    ("bitbucket.org/workspace/pkgname/sub", "bitbucket.org/workspace/pkgname", "git"),
]


@pytest.mark.parametrize(("path", "root", "vcs"), STATIC)
def test_static_roots(path, root, vcs):
    web = Web()
    got = web.run(path)
    assert got == RepoRoot(root=root, url="https://" + root, vcs=vcs)
    assert web.asked == []


STATIC_BAD = [
    # Unicode letters in directories are not valid.
    ("github.com/user/unicode/испытание", "invalid github.com import path"),
    ("github.com/user", "invalid github.com import path"),
    ("github.com/user/repo.git", "github.com/user/repo.git: invalid version control suffix"),
    ("github.com/user/repo.git/sub", "invalid version control suffix in github.com/ path"),
    ("bitbucket.org/user/repo.hg", "invalid version control suffix in bitbucket.org/ path"),
    # Spaces are not valid in user names or package names
    ("hub.jazz.net/git/User 1/pkgname", "invalid hub.jazz.net/git import path"),
    ("hub.jazz.net/git/user1/pkg name", "invalid hub.jazz.net/git import path"),
    # Dots are not valid in user names; nor are upper-case letters
    ("hub.jazz.net/git/user.1/pkgname", "invalid hub.jazz.net/git import path"),
    ("hub.jazz.net/git/USER/pkgname", "invalid hub.jazz.net/git import path"),
    ("git.openstack.org", "invalid git.openstack.org import path"),
    ("git.openstack.org/openstack", "invalid git.openstack.org import path"),
    # Spaces are not valid in package name; and it needs a .git suffix
    ("git.apache.org/package name/path/to/lib", "invalid git.apache.org import path"),
    ("git.apache.org/package-name/path/to/lib", "invalid git.apache.org import path"),
    # must have a user/$name/repository/$repo path
    ("chiselapp.com/kyle/repository/fossilgg", "invalid chiselapp.com import path"),
    ("chiselapp.com/user/kyle/fossilgg", "invalid chiselapp.com import path"),
    ("https://github.com/a/b", '"https://" not allowed in import path'),
    ("http:/x.test/y", '"http://" not allowed in import path'),
]


@pytest.mark.parametrize(("path", "want"), STATIC_BAD)
def test_static_errors(path, want):
    web = Web()
    assert want in resolve_error(web, path)
    assert web.asked == []


def test_static_error_texts():
    assert resolve_error(Web(), "github.com/user") == (
        'invalid github.com import path "github.com/user"'
    )
    assert resolve_error(Web(), "github.com/a/b.git") == (
        "github.com/a/b.git: invalid version control suffix in github.com/ path"
    )


@pytest.mark.parametrize(
    "path",
    [
        "hub.jazz.net",
        "hubajazz.net",
        "hub2.jazz.net",
        "hub.jazz.net/someotherprefix",
        "hub.jazz.net/someotherprefix/user1/pkgname",
        "gitbapache.org",
        # gitlab.com is not a static rule (subgroups): it answers go-get discovery.
        "gitlab.com/group/subgroup/project",
    ],
)
def test_paths_without_a_static_rule_use_discovery(path):
    web = Web()
    assert "https fetch: " + NO_HOST in resolve_error(web, path)
    assert [type(q) for q in web.asked] == [DiscoveryGet]


def test_gitlab_subgroups_by_discovery():
    path = "gitlab.com/group/subgroup/project/pkg"
    web = Web(
        {
            "https://gitlab.com/group/subgroup/project/pkg?go-get=1": page(
                "gitlab.com/group/subgroup/project git https://gitlab.com/group/subgroup/project.git"
            ),
            "https://gitlab.com/group/subgroup/project?go-get=1": page(
                "gitlab.com/group/subgroup/project git https://gitlab.com/group/subgroup/project.git"
            ),
        }
    )
    assert web.run(path) == RepoRoot(
        "gitlab.com/group/subgroup/project", "https://gitlab.com/group/subgroup/project.git", "git"
    )


# --------------------------------------------------------------------------------------------
# The general rule: host/path.vcs[/sub], with scheme probing

VCS_QUALIFIED = [
    ("example.test/repo.git", "example.test/repo.git", "example.test/repo", "git"),
    (
        "example.test/team/repo.git/sub/pkg",
        "example.test/team/repo.git",
        "example.test/team/repo",
        "git",
    ),
    ("example.test:8080/r.hg/x", "example.test:8080/r.hg", "example.test:8080/r", "hg"),
    ("example.test/~user/r.svn", "example.test/~user/r.svn", "example.test/~user/r", "svn"),
    ("example.test/r.bzr", "example.test/r.bzr", "example.test/r", "bzr"),
    # The last element ending in .<vcs> ends the root (see match_general).
    ("example.test/a.git/b.git/c", "example.test/a.git/b.git", "example.test/a.git/b", "git"),
    ("example.test/a.git/b", "example.test/a.git", "example.test/a", "git"),
    # Go's pattern is unanchored: it may start inside the path.
    ("Example.test/r.git", "xample.test/r.git", "xample.test/r", "git"),
]


@pytest.mark.parametrize(("path", "root", "repo", "vcs"), VCS_QUALIFIED)
def test_vcs_qualified(path, root, repo, vcs):
    web = Web(repos=(f"https://{repo}",))
    got = web.run(path)
    assert got == RepoRoot(root=root, url=f"https://{repo}", vcs=vcs)
    assert all(isinstance(q, ProbeRepo) and q.vcs == vcs for q in web.asked)
    assert web.urls()[-1] == f"https://{repo}"


SCHEME_ORDER = [
    ("x.test/r.git", "", ["https", "git+ssh", "ssh"]),
    ("x.test/r.git", "x.test", ["git", "https", "http", "git+ssh", "ssh"]),
    ("x.test/r.hg", "", ["https", "ssh"]),
    ("x.test/r.hg", "*.test", ["https", "http", "ssh"]),
    ("x.test/r.svn", "", ["https", "svn+ssh"]),
    ("x.test/r.svn", "x.test/r.svn", ["https", "http", "svn", "svn+ssh"]),
    ("x.test/r.bzr", "", ["https", "bzr+ssh"]),
    ("x.test/r.bzr", "x.test", ["https", "http", "bzr", "bzr+ssh"]),
]


@pytest.mark.parametrize(("path", "insecure", "schemes"), SCHEME_ORDER)
def test_scheme_probing_order(path, insecure, schemes):
    web = Web()
    secure = "" if insecure else "secure "
    assert resolve_error(web, path, insecure) == (
        f"{path}: no {secure}protocol found for repository"
    )
    repo = path.rsplit(".", 1)[0]
    assert web.urls() == [f"{s}://{repo}" for s in schemes]


def test_first_answering_scheme_wins():
    web = Web(repos=("ssh://x.test/r", "git+ssh://x.test/r"))
    assert web.run("x.test/r.git/sub") == RepoRoot("x.test/r.git", "git+ssh://x.test/r", "git")
    assert web.urls() == ["https://x.test/r", "git+ssh://x.test/r"]
    web = Web(repos=("git://x.test/r",))
    assert web.run("x.test/r.git", insecure="x.test").url == "git://x.test/r"


def test_fossil_is_not_probed():
    web = Web()
    assert web.run("x.test/r.fossil/sub") == RepoRoot(
        "x.test/r.fossil", "https://x.test/r", "fossil"
    )
    assert web.asked == []
    assert web.run("x.test/r.fossil", insecure="x.test").url == "https://x.test/r"


def test_probe_answer_must_be_bool():
    flow = resolve_repo("x.test/r.git", PrefixPatterns(""))
    assert next(flow) == ProbeRepo("git", "https://x.test/r")
    with pytest.raises(LocalProtocolError):
        flow.send("yes")


# --------------------------------------------------------------------------------------------
# go-get discovery


def test_discovery():
    url = "https://example.test/mod/pkg?go-get=1"
    web = Web(
        {
            url: page("example.test/mod/pkg git https://git.example.test/team/repo.git"),
        }
    )
    got = web.run("example.test/mod/pkg")
    assert got == RepoRoot("example.test/mod/pkg", "https://git.example.test/team/repo.git", "git")
    assert web.asked == [DiscoveryGet(url)]


def test_discovery_of_a_bare_host():
    web = Web({"https://example.test/?go-get=1": page("example.test hg https://hg.test/r")})
    assert web.run("example.test") == RepoRoot("example.test", "https://hg.test/r", "hg")


def test_discovery_verifies_a_shorter_prefix():
    tag = "example.test/mod git https://r.test/mod sub/dir"
    web = Web(
        {
            "https://example.test/mod/pkg?go-get=1": page(tag),
            "https://example.test/mod?go-get=1": page(tag, "example.test/other git https://o"),
        }
    )
    got = web.run("example.test/mod/pkg")
    assert got == RepoRoot("example.test/mod", "https://r.test/mod", "git", subdir="sub/dir")
    assert web.urls() == [
        "https://example.test/mod/pkg?go-get=1",
        "https://example.test/mod?go-get=1",
    ]


VERIFY_FAILS = [
    (
        page("example.test/mod git https://evil.test/mod"),
        "https://example.test/mod/pkg?go-get=1 and https://example.test/mod?go-get=1 "
        "disagree about go-import for example.test/mod",
    ),
    (
        page("example.test/other git https://r.test/mod"),
        "https://example.test/mod/pkg?go-get=1 and https://example.test/mod?go-get=1 "
        "disagree about go-import for example.test/mod",
    ),
    (
        page("example.test/mod git https://r.test/mod", "example.test git https://r.test/x"),
        "https://example.test/mod/pkg?go-get=1 and https://example.test/mod?go-get=1 "
        "disagree about go-import for example.test/mod",
    ),
    (None, "fetching example.test/mod: " + NO_HOST),
    (page(status=404), "reading https://example.test/mod?go-get=1: 404 Not Found"),
    (page(status=599), "reading https://example.test/mod?go-get=1: 599"),
    (
        page(),
        "fetching example.test/mod: no go-import meta tag found in "
        "https://example.test/mod?go-get=1",
    ),
    (
        DiscoveryResult(200, b"<p>]]></p>"),
        "parsing https://example.test/mod?go-get=1: "
        "XML syntax error on line 1: unescaped ]]> not in CDATA section",
    ),
]


@pytest.mark.parametrize(("answer", "want"), VERIFY_FAILS)
def test_discovery_verification_failures(answer, want):
    pages = {
        "https://example.test/mod/pkg?go-get=1": page("example.test/mod git https://r.test/mod")
    }
    if answer is not None:
        pages["https://example.test/mod?go-get=1"] = answer
    web = Web(pages)
    assert resolve_error(web, "example.test/mod/pkg") == (
        f'unrecognized import path "example.test/mod/pkg": {want}'
    )


DISCOVERY_FAILS = [
    (None, "https fetch: " + NO_HOST),
    (page(status=404), "reading https://x.test/m?go-get=1: 404 Not Found"),
    (page(status=500), "reading https://x.test/m?go-get=1: 500 Internal Server Error"),
    (
        DiscoveryResult(200, b"<p>\x00</p>"),
        "parsing x.test/m: XML syntax error on line 1: illegal character code U+0000",
    ),
    (page(), "parse https://x.test/m?go-get=1: no go-import meta tags ()"),
    (
        page("x.test/other git https://r", "y.test/m git https://r"),
        "parse https://x.test/m?go-get=1: no go-import meta tags (meta tag x.test/other did "
        "not match import path x.test/m, meta tag y.test/m did not match import path x.test/m)",
    ),
    (
        page("x.test/m git https://r", "x.test/m hg https://r"),
        'parse https://x.test/m?go-get=1: multiple meta tags match import path "x.test/m"',
    ),
    (
        page("x.test/m git https://r /sub"),
        'https://x.test/m?go-get=1: invalid subdirectory "/sub": leading slash',
    ),
    (
        page("x.test/m git https://r -sub"),
        'https://x.test/m?go-get=1: invalid subdirectory "-sub": leading hyphen',
    ),
    (
        page("x.test/m git r.test/m"),
        'https://x.test/m?go-get=1: invalid repo root "r.test/m": no scheme',
    ),
    (
        page("x.test/m git file:///srv/m"),
        'https://x.test/m?go-get=1: invalid repo root "file:///srv/m": file scheme disallowed',
    ),
    (
        page("x.test/m git -config://x"),
        'https://x.test/m?go-get=1: invalid repo root "-config://x": '
        'parse "-config://x": first path segment in URL cannot contain colon',
    ),
    (page("x.test/m cvs https://r"), 'https://x.test/m?go-get=1: unknown vcs "cvs"'),
]


@pytest.mark.parametrize(("answer", "want"), DISCOVERY_FAILS)
def test_discovery_failures(answer, want):
    web = Web({} if answer is None else {"https://x.test/m?go-get=1": answer})
    assert resolve_error(web, "x.test/m") == f'unrecognized import path "x.test/m": {want}'


def test_a_404_page_with_tags_is_accepted():
    web = Web({"https://x.test/m?go-get=1": page("x.test/m git https://r.test/m", status=404)})
    assert web.run("x.test/m") == RepoRoot("x.test/m", "https://r.test/m", "git")


def test_tags_found_before_a_markup_error_count():
    body = (meta("x.test/m git https://r.test/m") + "<p>]]></p>").encode()
    web = Web({"https://x.test/m?go-get=1": DiscoveryResult(200, body)})
    assert web.run("x.test/m").url == "https://r.test/m"


def test_mod_tags_are_preferred():
    web = Web(
        {
            "https://x.test/m?go-get=1": page(
                "x.test/m git https://r.test/m", "x.test/m mod https://proxy.test"
            )
        }
    )
    got = web.run("x.test/m")
    assert got == RepoRoot("x.test/m", "https://proxy.test", "mod")
    with pytest.raises(UnsupportedVCSError, match="names a module proxy"):
        require_git(got)


def test_host_without_a_dot():
    assert resolve_error(Web(), "localhost/m") == (
        'unrecognized import path "localhost/m": import path does not begin with hostname'
    )


def test_discovery_answer_must_be_a_result():
    flow = resolve_repo("x.test/m", PrefixPatterns(""))
    assert next(flow) == DiscoveryGet("https://x.test/m?go-get=1")
    with pytest.raises(LocalProtocolError):
        flow.send(404)


# --------------------------------------------------------------------------------------------
# Insecure paths (GOINSECURE): plain HTTP after HTTPS got no answer


def test_insecure_falls_back_to_http():
    web = Web({"http://x.test/m?go-get=1": page("x.test/m git http://r.test/m")})
    assert web.run("x.test/m", insecure="x.test") == RepoRoot("x.test/m", "http://r.test/m", "git")
    assert web.asked == [
        DiscoveryGet("https://x.test/m?go-get=1", insecure=True),
        DiscoveryGet("http://x.test/m?go-get=1", insecure=True),
    ]


def test_insecure_uses_an_https_answer_even_if_not_ok():
    web = Web(
        {
            "https://x.test/m?go-get=1": page(status=404),
            "http://x.test/m?go-get=1": page("x.test/m git http://r.test/m"),
        }
    )
    assert "reading https://x.test/m?go-get=1: 404 Not Found" in resolve_error(
        web, "x.test/m", insecure="x.test"
    )
    assert web.urls() == ["https://x.test/m?go-get=1"]


def test_insecure_failure_text():
    web = Web()
    assert resolve_error(web, "x.test/m", insecure="x.test") == (
        f'unrecognized import path "x.test/m": http/https fetch: {NO_HOST}'
    )
    assert web.urls() == ["https://x.test/m?go-get=1", "http://x.test/m?go-get=1"]


def test_secure_paths_never_use_http():
    web = Web({"http://x.test/m?go-get=1": page("x.test/m git http://r.test/m")})
    resolve_error(web, "x.test/m", insecure="y.test")
    assert web.asked == [DiscoveryGet("https://x.test/m?go-get=1")]


def test_insecure_verification_falls_back_too():
    tag = "x.test/m git https://r.test/m"
    web = Web({"http://x.test/m/p?go-get=1": page(tag), "http://x.test/m?go-get=1": page(tag)})
    assert web.run("x.test/m/p", insecure="x.test").root == "x.test/m"
    assert web.urls() == [
        "https://x.test/m/p?go-get=1",
        "http://x.test/m/p?go-get=1",
        "https://x.test/m?go-get=1",
        "http://x.test/m?go-get=1",
    ]


# --------------------------------------------------------------------------------------------
# After discovery: launchpad.net (vcsPathsAfterDynamic)


def test_launchpad_series_with_a_branch():
    web = Web({"https://code.launchpad.net/proj/series/.bzr/branch-format": DiscoveryResult(200)})
    got = web.run("launchpad.net/proj/series/pkg")
    assert got == RepoRoot("launchpad.net/proj/series", "https://launchpad.net/proj/series", "bzr")
    assert web.urls() == [
        "https://launchpad.net/proj/series/pkg?go-get=1",
        "https://code.launchpad.net/proj/series/.bzr/branch-format",
    ]


def test_launchpad_directory_of_the_main_branch():
    web = Web({"https://code.launchpad.net/proj/dir/.bzr/branch-format": DiscoveryResult(404)})
    got = web.run("launchpad.net/proj/dir")
    assert got == RepoRoot("launchpad.net/proj", "https://launchpad.net/proj", "bzr")


def test_launchpad_without_series_and_user_branches():
    assert Web().run("launchpad.net/proj").root == "launchpad.net/proj"
    web = Web()
    got = web.run("launchpad.net/~user/+junk/branch/pkg")
    assert got.root == "launchpad.net/~user/+junk/branch"
    assert all(isinstance(q, DiscoveryGet) and "go-get" in q.url for q in web.asked)


def test_launchpad_keeps_the_discovery_error_when_its_rule_fails():
    assert resolve_error(Web(), "launchpad.net/~user") == (
        f'unrecognized import path "launchpad.net/~user": https fetch: {NO_HOST}'
    )


def test_launchpad_discovery_wins():
    web = Web({"https://launchpad.net/p?go-get=1": page("launchpad.net/p git https://r.test/p")})
    assert web.run("launchpad.net/p") == RepoRoot("launchpad.net/p", "https://r.test/p", "git")


def test_wildcards_in_roots():
    assert resolve_error(Web(), "github.com/a/b...") == 'cannot expand ... in "github.com/a/b..."'
    assert Web().run("github.com/a/b/c...").root == "github.com/a/b"


# --------------------------------------------------------------------------------------------
# discovery_url, require_git


@pytest.mark.parametrize(
    ("path", "insecure", "want"),
    [
        ("example.test/a/b", False, "https://example.test/a/b?go-get=1"),
        ("example.test", False, "https://example.test/?go-get=1"),
        ("example.test/a", True, "http://example.test/a?go-get=1"),
        ("example.test/a b/c?d#é", False, "https://example.test/a%20b/c%3Fd%23%C3%A9?go-get=1"),
        ("ex ample.test/$&+,:;=@[]", False, "https://ex%20ample.test/$&+,:;=@%5B%5D?go-get=1"),
    ],
)
def test_discovery_url(path, insecure, want):
    assert discovery_url(path, insecure) == want


def test_discovery_url_needs_a_host():
    with pytest.raises(RepoResolveError, match="does not begin with hostname"):
        discovery_url("nodot/x", False)


def test_require_git():
    root = RepoRoot("x.test/r.git", "https://x.test/r", "git")
    assert require_git(root) is root
    with pytest.raises(UnsupportedVCSError) as info:
        require_git(RepoRoot("x.test/r.hg", "https://x.test/r", "hg"))
    assert error_status(info.value) == 404
    assert str(info.value) == (
        "x.test/r.hg: version control system hg is not supported by this proxy (only git)"
    )


# --------------------------------------------------------------------------------------------
# matchGoImport (vcs_test.go TestMatchGoImport)

T = "https://example.com/repo/target"
MX = "https://raw.githubusercontent.com/myitcv/pubx/master"

MATCH = [
    ([("example.com/user/foo", "git", T)], "example.com/user/foo", 0),
    ([("example.com/user/foo", "git", T)], "example.com/user/foo/", 0),
    (
        [("example.com/user/foo", "git", T), ("example.com/user/fooa", "git", T)],
        "example.com/user/foo",
        0,
    ),
    (
        [("example.com/user/foo", "git", T), ("example.com/user/fooa", "git", T)],
        "example.com/user/fooa",
        1,
    ),
    (
        [("myitcv.io/blah2", "mod", MX), ("myitcv.io", "git", "https://github.com/myitcv/x")],
        "myitcv.io/blah2/foo",
        0,
    ),
    (
        [("myitcv.io/blah2", "mod", MX), ("myitcv.io", "git", "https://github.com/myitcv/x")],
        "myitcv.io/other",
        1,
    ),
    ([("example.com/user/foo", "git", T, "subdir")], "example.com/user/foo", 0),
    ([("example.com/user/foo", "git", T, "foo/subdir")], "example.com/user/foo", 0),
]


@pytest.mark.parametrize(("imports", "path", "want"), MATCH)
def test_match_go_import(imports, path, want):
    tags = tuple(MetaImport(*t) for t in imports)
    assert match_go_import(tags, path) == tags[want]


NESTED = [("example.com/user/foo", "git", T), ("example.com/user/foo/bar", "git", T)]

MATCH_BAD = [
    # should not be allowed to create nested repo
    (NESTED, "example.com/user/foo/bar", False),
    (NESTED, "example.com/user/foo/bar/baz", False),
    (NESTED, "example.com/user/foo/bar/baz/qux", False),
    (NESTED, "example.com/user/foo/bar/baz/", False),
    # pathologically short path
    (NESTED, "example.com", True),
    # meta tags do not match import path
    ([("example.com/user/foo", "git", T)], "different.example.com/user/foo", True),
    # multiple meta tags match import path
    (
        [("example.com/user/foo", "git", T, "subdir"), ("example.com/user/foo", "git", T, "")],
        "example.com/user/foo",
        False,
    ),
]


@pytest.mark.parametrize(("imports", "path", "mismatch"), MATCH_BAD)
def test_match_go_import_errors(imports, path, mismatch):
    tags = tuple(MetaImport(*t) for t in imports)
    with pytest.raises(RepoResolveError) as info:
        match_go_import(tags, path)
    assert isinstance(info.value, ImportMismatchError) == mismatch
    if mismatch:
        assert info.value.mismatches == tuple(t[0] for t in imports)  # type: ignore[attr-defined]
    else:
        assert str(info.value) == f"multiple meta tags match import path {path!r}".replace("'", '"')


# --------------------------------------------------------------------------------------------
# validateRepoRoot (vcs_test.go TestValidateRepoRoot, then net/url.Parse cases)

ROOTS = [
    ("", "no scheme"),
    ("http://", ""),
    ("git+ssh://", ""),
    ("http#://", "no scheme"),
    ("-config", "no scheme"),
    ("-config://", 'parse "-config://": first path segment in URL cannot contain colon'),
    ("https://r.test/m", ""),
    ("HTTPS://r.test/m", ""),
    ("FILE:///x", "file scheme disallowed"),
    ("file:///x", "file scheme disallowed"),
    ("mailto:x", ""),
    ("r.test/m", "no scheme"),
    ("https://r.test/m#frag", ""),
    ("https://r.test/m#%zz", 'parse "https://r.test/m#%zz": invalid URL escape "%zz"'),
    ("https://r.test/%zz", 'parse "https://r.test/%zz": invalid URL escape "%zz"'),
    (
        "https://r.test/m\x01",
        'parse "https://r.test/m\\x01": net/url: invalid control character in URL',
    ),
    ("://x", 'parse "://x": missing protocol scheme'),
    ("*", "no scheme"),
    ("x:y", ""),
    ("/abs/path", "no scheme"),
    ("//r.test/m", "no scheme"),
    ("https://u:p@r.test/m", ""),
    ("https://u p@r.test/m", 'parse "https://u p@r.test/m": net/url: invalid userinfo'),
    ("https://u%zz@r.test/m", 'parse "https://u%zz@r.test/m": invalid URL escape "%zz"'),
    ("https://r%20.test/", 'parse "https://r%20.test/": invalid URL escape "%20"'),
    ("https://r%41.test/", 'parse "https://r%41.test/": invalid URL escape "%41"'),
    ("https://r.test%e2%82%ac/", ""),
    ("https://r test/", 'parse "https://r test/": invalid character " " in host name'),
    ("https://[::1]:8080/m", ""),
    ("https://[::1]x/m", 'parse "https://[::1]x/m": invalid port "x" after host'),
    ("https://x[::1]/m", 'parse "https://x[::1]/m": invalid IP-literal'),
    ("https://[::1/m", "parse \"https://[::1/m\": missing ']' in host"),
    ("https://[1.2.3.4]/m", 'parse "https://[1.2.3.4]/m": invalid IP-literal'),
    (
        "https://[zz]/m",
        'parse "https://[zz]/m": invalid host: ParseAddr("zz"): unable to parse IP',
    ),
    ("https://[fe80::1%25en0]/m", ""),
    ("https://[fe80::1%25%zz]/m", 'parse "https://[fe80::1%25%zz]/m": invalid URL escape "%zz"'),
    ("https://[fe80::1%25%41]/m", ""),
    ("https://[fe80::1%25%2f]/m", 'parse "https://[fe80::1%25%2f]/m": invalid URL escape "%2f"'),
    ("https://r.test:80:90/m", 'parse "https://r.test:80:90/m": invalid port ":80:90" after host'),
    ("ssh://r.test:80:90/m", ""),
    ("https://r.test:x/m", 'parse "https://r.test:x/m": invalid port ":x" after host'),
    ("https://r.test:/m", ""),
    ("https://r.test/m?", ""),
    ("https://r.test/m?x#y", ""),
    ("https://r.test/m?x?", ""),
    ("s://a/b%2", 'parse "s://a/b%2": invalid URL escape "%2"'),
    ("https://r.test/ü", ""),
    ("https://ü.test/", ""),
]


@pytest.mark.parametrize(("root", "want"), ROOTS)
def test_validate_repo_root(root, want):
    assert validate_repo_root(root) == want


# --------------------------------------------------------------------------------------------
# parseMetaGoImports (discovery_test.go TestParseMetaGoImports)

FOO = "foo/bar git https://github.com/rsc/foo/bar"
MYITCV = (
    '<meta name="go-import" content="myitcv.io git https://github.com/myitcv/x">\n'
    '        <meta name="go-import" content="myitcv.io/blah2 mod '
    'https://raw.githubusercontent.com/myitcv/pubx/master">\n        '
)
PARSE = [
    (meta(FOO), False, [FOO]),
    (
        meta(FOO) + "\n\t\t" + meta("baz/quux git http://github.com/rsc/baz/quux"),
        False,
        [FOO, "baz/quux git http://github.com/rsc/baz/quux"],
    ),
    (meta(FOO) + "\n\t\t" + meta("foo/bar mod http://github.com/rsc/baz/quux"), False, [FOO]),
    (meta("foo/bar mod http://github.com/rsc/baz/quux") + "\n\t\t" + meta(FOO), False, [FOO]),
    (
        meta("foo/bar mod http://github.com/rsc/baz/quux") + "\n\t\t" + meta(FOO),
        True,
        ["foo/bar mod http://github.com/rsc/baz/quux"],
    ),
    ("<head>\n\t\t" + meta(FOO) + "\n\t\t</head>", False, [FOO]),
    (meta(FOO) + "\n\t\t<body>", False, [FOO]),
    ("<!doctype html>" + meta(FOO), False, [FOO]),
    # XML doesn't like <div style=position:relative>.
    (
        "<!doctype html><title>Page Not Found</title><meta name=go-import "
        'content="chitin.io/chitin git https://github.com/chitin-io/chitin">'
        "<div style=position:relative>DRAFT</div>",
        False,
        ["chitin.io/chitin git https://github.com/chitin-io/chitin"],
    ),
    (MYITCV, False, ["myitcv.io git https://github.com/myitcv/x"]),
    (
        MYITCV,
        True,
        [
            "myitcv.io/blah2 mod https://raw.githubusercontent.com/myitcv/pubx/master",
            "myitcv.io git https://github.com/myitcv/x",
        ],
    ),
    (meta(FOO + " subdir"), False, [FOO + " subdir"]),
    (meta(FOO + " subdir/path"), False, [FOO + " subdir/path"]),
]


@pytest.mark.parametrize(("body", "prefer_mod", "want"), PARSE)
def test_parse_meta_go_imports(body, prefer_mod, want):
    got, error = parse_meta_go_imports(body.encode(), prefer_mod=prefer_mod)
    assert error == ""
    assert got == tuple(MetaImport(*w.split()) for w in want)


M = meta("a.test/m git https://r.test/m")
TAG = ("a.test/m", "git", "https://r.test/m")

# Markup quirks: what Go's non-strict encoding/xml makes of them (recorded from Go 1.26).
MARKUP = [
    ("", [], ""),
    ("<html><head>" + M + "</head></html>", [TAG], ""),
    ("<head/>" + M, [], ""),
    ("<x:head></x:head>" + M, [], ""),
    ("<BODY>" + M, [], ""),
    ('<x:meta name="go-import" content="a.test/m git https://r.test/m">', [TAG], ""),
    ('<meta x:name="go-import" x:content="a.test/m git https://r.test/m">', [TAG], ""),
    ('<meta NAME="go-import" CONTENT="a.test/m git https://r.test/m">', [TAG], ""),
    ('<meta name="Go-Import" content="a.test/m git https://r.test/m">', [], ""),
    ("<meta name=go-import content=a>", [], ""),
    ('<meta charset="utf-8"><meta name="go-import">' + M, [TAG], ""),
    (
        '<meta name=go-import content="a.test/m\tgit\n https://r.test/m\u00a0sub">',
        [(*TAG, "sub")],
        "",
    ),
    ('<meta name="go-import" content="a.test/m git">', [], ""),
    ('<meta name="go-import" content="a b c d e">', [], ""),
    (
        '<meta name="go-import" content="a.test/m git https://r.test/m?a=1&amp;b=2">',
        [("a.test/m", "git", "https://r.test/m?a=1&b=2")],
        "",
    ),
    ('<meta name="go-import" content="a.test/m&#32;git&#x20;https://r.test/m">', [TAG], ""),
    (
        '<meta name="go-import" content="a.test/&bogus;m git https://r.test/m">',
        [("a.test/&bogus;m", "git", "https://r.test/m")],
        "",
    ),
    ("<meta name=\"go-import\" content='a.test/m git https://r.test/m'>", [TAG], ""),
    ('<meta name="go-import" content="a.test/m git https://r.test/m"/>', [TAG], ""),
    ('<meta name="go-import" content="a.test/m git https://r.test/m" async>', [TAG], ""),
    ("<!DOCTYPE html>\r\n<!-- a comment -->" + M, [TAG], ""),
    (
        "<!-- a -- b -->" + M,
        [],
        'XML syntax error on line 1: invalid sequence "--" not allowed in comments',
    ),
    (
        '<?xml version="1.0" encoding="ISO-8859-1"?>' + M,
        [],
        'xml: opening charset "ISO-8859-1": can\'t decode XML document using charset "ISO-8859-1"',
    ),
    (
        '<?xml version="1.0" encoding="US-ASCII"?>' + M,
        [],
        'xml: opening charset "US-ASCII": can\'t decode XML document using charset "US-ASCII"',
    ),
    ('<?xml version="1.0" encoding="ascii"?>' + M, [TAG], ""),
    (
        '<?xml version="1.1"?>' + M,
        [],
        'xml: unsupported version "1.1"; only version 1.0 is supported',
    ),
    ('<?xml-stylesheet href="x"?>' + M, [TAG], ""),
    ('<![CDATA[ <meta name="go-import" content="x y z"> ]]>' + M, [TAG], ""),
    (
        "<script>if (a < b) {}</script>" + M,
        [],
        "XML syntax error on line 1: expected element name after <",
    ),
    (
        "<script>if (a<b) {}</script>" + M,
        [],
        "XML syntax error on line 1: expected attribute name in element",
    ),
    (M + "<script>if (a < b) {}</script>", [TAG], ""),
    ("<p>\x00</p>" + M, [], "XML syntax error on line 1: illegal character code U+0000"),
    ("<p>&#0;</p>" + M, [], "XML syntax error on line 1: illegal character code U+0000"),
    ("<p>]]></p>" + M, [], "XML syntax error on line 1: unescaped ]]> not in CDATA section"),
    ('<p a="<">' + M, [], "XML syntax error on line 1: unescaped < inside quoted string"),
    ("<3>" + M, [], "XML syntax error on line 1: invalid XML name: 3"),
    ("<a:b:c>" + M, [], "XML syntax error on line 1: expected element name after <"),
    ("<été>" + M, [TAG], ""),
    ("<a\n\n\n<", [], "XML syntax error on line 4: expected attribute name in element"),
    (M[:-1], [], "XML syntax error on line 1: unexpected EOF"),
    ('<!DOCTYPE html [<!ENTITY x "<y>">]>' + M, [TAG], ""),
    ("<![CDATA[ never closed", [], "XML syntax error on line 1: unexpected EOF in CDATA section"),
    ("</head >" + M, [], ""),
    (
        "</head x>" + M,
        [],
        "XML syntax error on line 1: invalid characters between </head and >",
    ),
    ("<title>x &amp y &#; &#xZ; &lt</title>" + M, [TAG], ""),
]


@pytest.mark.parametrize(("body", "want", "error"), MARKUP)
def test_markup(body, want, error):
    got, err = parse_meta_go_imports(body.encode())
    assert (got, err) == (tuple(MetaImport(*w) for w in want), error)


# More of Go's answers, for the corners of the tokenizer (recorded from Go 1.26).
MARKUP_BYTES = [
    (b"\xff" + M.encode(), "XML syntax error on line 1: invalid UTF-8"),
    (b"<p>\xc3\xa9\xff</p>", "XML syntax error on line 1: invalid UTF-8"),
    (b"<p>\x01\xff</p>", "XML syntax error on line 1: illegal character code U+0001"),
    (b"<\xff>", "XML syntax error on line 1: invalid XML name: \ufffd"),
    (b"<a\xcc\x81\xc2\xb7>", ""),
    (b"<\xcc\x81>", "XML syntax error on line 1: invalid XML name: \u0301"),
    (b"<\xf0\x9f\x98\x80>", "XML syntax error on line 1: invalid XML name: \U0001f600"),
    (b"<", "XML syntax error on line 1: unexpected EOF"),
    (b"</", "XML syntax error on line 1: unexpected EOF"),
    (b"</>", "XML syntax error on line 1: expected element name after </"),
    (b"< a>", "XML syntax error on line 1: expected element name after <"),
    (b"<a b", "XML syntax error on line 1: unexpected EOF"),
    (b"<a b=", "XML syntax error on line 1: unexpected EOF"),
    (b"<a b=c", "XML syntax error on line 1: unexpected EOF"),
    (b'<a b="c', "XML syntax error on line 1: unexpected EOF"),
    (b"<a/", "XML syntax error on line 1: unexpected EOF"),
    (b"<a/b>", "XML syntax error on line 1: expected /> in element"),
    (b"<a =b>", "XML syntax error on line 1: expected attribute name in element"),
    (b"<a b=/>", ""),
    (b"<?", "XML syntax error on line 1: unexpected EOF"),
    (b"<? x?>", "XML syntax error on line 1: expected target name after <?"),
    (b"<?x\n\n", "XML syntax error on line 3: unexpected EOF"),
    (b"<?xml encoding='UTF-8' version='1.0'?>", ""),
    (b"<?xml encoding=utf8?>", ""),
    (b'<?xml version="1.1?>', ""),
    (b"<!", "XML syntax error on line 1: unexpected EOF"),
    (b"<!-", "XML syntax error on line 1: unexpected EOF"),
    (b"<!-x>", "XML syntax error on line 1: invalid sequence <!- not part of <!--"),
    (b"<!--", "XML syntax error on line 1: unexpected EOF"),
    (b"<!---->", ""),
    (b"<!--->", "XML syntax error on line 1: unexpected EOF"),
    (b"<!-- x\n --", "XML syntax error on line 2: unexpected EOF"),
    (b"<![", "XML syntax error on line 1: unexpected EOF"),
    (b"<![CDATX[", "XML syntax error on line 1: invalid <![ sequence"),
    (b"<![CDATA[a]b]]>", ""),
    (b"<!DOCTYPE", "XML syntax error on line 1: unexpected EOF"),
    (b"<!DOCTYPE '>' \">\" <x> <!--<>--> <y<!z>>>", ""),
    (b"<!x <!-- unclosed", "XML syntax error on line 1: unexpected EOF"),
    (b"<!x <!- >", "XML syntax error on line 1: unexpected EOF"),
    (b"<!x <! >>", ""),
    (b"<!x\x00>", ""),
    (b"&", "XML syntax error on line 1: unexpected EOF"),
    (b"&#", "XML syntax error on line 1: unexpected EOF"),
    (b"&#x", "XML syntax error on line 1: unexpected EOF"),
    (b"&#12", "XML syntax error on line 1: unexpected EOF"),
    (b"&amp", "XML syntax error on line 1: unexpected EOF"),
    (b"&lt;&gt;&amp;&apos;&quot; ", ""),
    (b"&#xD800; &#x110000; &#99999999999999999999; &#9; ", ""),
    (b"&#x1; ", "XML syntax error on line 1: illegal character code U+0001"),
    (b"& ; &; &x y ", ""),
    (b"a\r\nb\rc]]", ""),
    (b"a\r\n\r\nb]>c]]>", "XML syntax error on line 3: unescaped ]]> not in CDATA section"),
]


@pytest.mark.parametrize(("body", "error"), MARKUP_BYTES)
def test_markup_corners(body, error):
    assert parse_meta_go_imports(body) == ((), error)


def test_markup_errors_after_a_tag_are_ignored():
    body = (M + '<meta name="go-import" content="b.test/m git https://r"><p>]]>').encode()
    got, err = parse_meta_go_imports(body)
    assert err == ""
    assert [m.prefix for m in got] == ["a.test/m", "b.test/m"]


@pytest.mark.parametrize(
    ("param", "content", "want"),
    [
        (b"version", b'version="1.0" encoding="x"', b"1.0"),
        (b"encoding", b"version='1.0' encoding='x'", b"x"),
        (b"encoding", b"encoding=x encoding='y'", b"y"),
        (b"encoding", b"encoding=x", b""),
        (b"encoding", b"encoding=", b""),
        (b"encoding", b'encoding="x', b""),
        (b"version", b"", b""),
    ],
)
def test_proc_inst(param, content, want):
    assert proc_inst(param, content) == want


# --------------------------------------------------------------------------------------------
# Properties

# Go's general rule exactly as vcs.go writes it; Python's backtracking engine agrees with
# Go's leftmost-first one (checked against Go 1.26), only slower.
GO_GENERAL = re.compile(
    r"(?P<root>(?P<repo>([a-z0-9.\-]+\.)+[a-z0-9.\-]+(:[0-9]+)?(/~?[\w.\-]+)+?)"
    r"\.(?P<vcs>bzr|fossil|git|hg|svn))(/~?[\w.\-]+)*\Z",
    re.ASCII,
)

PIECES = st.sampled_from(
    [
        *("a", "b", "Z", "1", ".", "-", "_", "~", "/", ":", ":80", "@", "é"),
        *(".git", ".hg", ".svn", ".bzr", ".fossil", "git", "example.test", "/~u"),
    ]
)


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("x.test:80/r.git/s", ("x.test:80/r.git", "x.test:80/r", "git")),
        ("x.test:/r.git", None),
        ("x.test:8a/r.git", None),
        ("x.test/r.git/", None),
        ("x.test/r.git/~", None),
        ("x.test/r.git/a@b", None),
        ("x.test/.git", None),
        ("x.test/~.git", None),
        ("x.test/..git/s", ("x.test/..git", "x.test/.", "git")),
        ("a/b.c/d.fossil", ("b.c/d.fossil", "b.c/d", "fossil")),
        ("b.c/d.fossil/e@/f.git", None),
        ("b.c/d.fossil/e@x.y/f.git", ("x.y/f.git", "x.y/f", "git")),
        ("", None),
    ],
)
def test_general_rule(path, want):
    m = GO_GENERAL.search(path)
    assert (m and (m["root"], m["repo"], m["vcs"])) == want
    got = match_general(path)
    assert (got and (got["root"], got["repo"], got["vcs"])) == want


@given(st.lists(PIECES, max_size=14).map("".join))
def test_general_rule_matches_gos_pattern(path):
    m = GO_GENERAL.search(path)
    want = None if m is None else {k: m.group(k) for k in ("root", "repo", "vcs")}
    assert match_general(path) == want


HOSTS = st.from_regex(r"[a-z0-9]{1,6}(\.[a-z0-9]{1,6}){1,2}", fullmatch=True)
ELEMENTS = st.from_regex(r"~?[A-Za-z0-9_.\-]{1,8}", fullmatch=True)
PLAIN_ELEMENTS = ELEMENTS.filter(
    lambda e: not e.endswith((".git", ".hg", ".svn", ".bzr", ".fossil"))
)


@given(
    HOSTS,
    st.lists(ELEMENTS, max_size=3),
    st.from_regex(r"~?[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,7}", fullmatch=True),
    st.lists(PLAIN_ELEMENTS, max_size=3),
)
def test_vcs_qualified_paths_resolve_statically(host, dirs, name, subs):
    repo = "/".join([host, *dirs, name])
    path = "/".join([repo + ".git", *subs])
    web = Web(repos=(f"https://{repo}",))
    got = web.run(path)
    assert got == RepoRoot(root=repo + ".git", url=f"https://{repo}", vcs="git")
    assert web.asked == [ProbeRepo("git", f"https://{repo}")]


@given(st.binary(max_size=300))
def test_parse_never_raises(body):
    imports, error = parse_meta_go_imports(body)
    assert not (imports and error)


MARKUP_PIECES = st.sampled_from(
    [
        "<",
        ">",
        "/",
        "=",
        '"',
        "'",
        " ",
        "\n",
        "\r",
        "&",
        ";",
        "#",
        "x",
        "!",
        "?",
        "-",
        "[",
        "]",
        "<meta",
        " name=go-import",
        ' content="a.test/m git https://r"',
        "<head>",
        "</head>",
        "<body>",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<?xml",
        "?>",
        "&amp;",
        "&#65;",
        "é",
        "\x00",
    ]
)


@given(st.lists(MARKUP_PIECES, max_size=30).map("".join))
def test_parse_never_raises_on_markup(body):
    imports, error = parse_meta_go_imports(body.encode())
    assert not (imports and error)
    assert all(len(m.prefix.split()) == 1 for m in imports)


@given(st.from_regex(r"[a-z0-9]{1,5}\.[a-z]{1,3}(/[A-Za-z0-9_.~\-]{1,5}){0,3}", fullmatch=True))
def test_discovery_url_of_module_paths(path):
    want = path if "/" in path else path + "/"
    assert discovery_url(path, False) == f"https://{want}?go-get=1"
    assert discovery_url(path, True) == f"http://{want}?go-get=1"
