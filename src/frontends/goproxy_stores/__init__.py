"""Blob stores for goproxy servers: ``BlobStore`` implementations that touch real storage."""

from __future__ import annotations

from .disk import DiskStore

__all__ = ["DiskStore"]
