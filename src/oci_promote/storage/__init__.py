"""Where bytes live: one protocol (`Storage`) over a registry, an OCI layout and memory."""

from __future__ import annotations

from .base import BodyFactory, Storage, StoredManifest, TagPage

__all__ = ["BodyFactory", "Storage", "StoredManifest", "TagPage"]
