"""Module paths and versions as the go command checks them (golang.org/x/mod ``module``).

Path and version validity (:func:`check_path`, :func:`check_import_path`,
:func:`check_file_path`, :func:`check`), the ``!`` case-encoding of paths and versions in
proxy URLs (:func:`escape_path` …), major-version suffixes (:func:`split_path_version` …),
GOPRIVATE-style prefix patterns (:class:`PrefixPatterns`), and pseudo-versions
(:func:`pseudo_version` …). Errors are :class:`InvalidPathError` and
:class:`InvalidVersionError`, with Go's texts.
"""

from __future__ import annotations

from ..errors import InvalidPathError, InvalidVersionError
from .escape import (
    InvalidEscapedPathError,
    InvalidEscapedVersionError,
    escape_path,
    escape_version,
    unescape_path,
    unescape_version,
)
from .paths import (
    PathKind,
    PrefixPatterns,
    canonical_version,
    check,
    check_elem,
    check_file_path,
    check_import_path,
    check_path,
    check_path_major,
    is_incompatible,
    match_path_major,
    match_prefix_patterns,
    path_major_prefix,
    path_match,
    split_path_version,
)
from .pseudo import (
    PSEUDO_VERSION_TIMESTAMP_FORMAT,
    dec_decimal,
    format_pseudo_timestamp,
    inc_decimal,
    is_pseudo_version,
    is_zero_pseudo_version,
    parse_pseudo_timestamp,
    pseudo_version,
    pseudo_version_base,
    pseudo_version_rev,
    pseudo_version_time,
    zero_pseudo_version,
)

__all__ = [
    "PSEUDO_VERSION_TIMESTAMP_FORMAT",
    "InvalidEscapedPathError",
    "InvalidEscapedVersionError",
    "InvalidPathError",
    "InvalidVersionError",
    "PathKind",
    "PrefixPatterns",
    "canonical_version",
    "check",
    "check_elem",
    "check_file_path",
    "check_import_path",
    "check_path",
    "check_path_major",
    "dec_decimal",
    "escape_path",
    "escape_version",
    "format_pseudo_timestamp",
    "inc_decimal",
    "is_incompatible",
    "is_pseudo_version",
    "is_zero_pseudo_version",
    "match_path_major",
    "match_prefix_patterns",
    "parse_pseudo_timestamp",
    "path_major_prefix",
    "path_match",
    "pseudo_version",
    "pseudo_version_base",
    "pseudo_version_rev",
    "pseudo_version_time",
    "split_path_version",
    "unescape_path",
    "unescape_version",
    "zero_pseudo_version",
]
