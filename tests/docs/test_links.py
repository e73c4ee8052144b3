"""Every relative link in README.md and docs/ names a file that exists and, with a ``#``, a
heading in it (anchors as GitHub makes them: lower case, punctuation dropped, spaces to ``-``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def anchors(text: str) -> set[str]:
    found = set()
    for m in re.finditer(r"^#{1,6} (.+)$", _prose(text), re.M):
        found.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return found


def _prose(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    broken = []
    for link in re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):
            continue  # a URL, not a file of the project
        path, _, fragment = link.partition("#")
        target = (page.parent / path) if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target.read_text()):
            broken.append(f"{link}: no such heading")
    assert not broken, broken


def test_anchors_follow_github():
    assert anchors("## The object store, through `goproxy serve`\n") == {
        "the-object-store-through-goproxy-serve"
    }
