"""Every setting goproxy reads has its row in docs/configuration.md's table, and every row
names a setting that exists (a renamed or removed key cannot linger in the docs)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from goproxy_cli.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _keys() -> set[str]:
    return {f.name.replace("_", "-") for f in msgspec.structs.fields(Settings)}


def _rows() -> set[str]:
    return set(re.findall(r"^\| `([a-z0-9][a-z0-9-]*)` \|", DOC.read_text(), re.M))


def test_every_setting_has_a_row():
    assert not _keys() - _rows()


def test_every_row_is_a_setting():
    assert not _rows() - _keys()
