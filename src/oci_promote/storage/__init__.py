"""Where bytes live: one protocol (`Storage`) over a registry, an OCI layout and memory."""

from __future__ import annotations

from ..types.body import BodyFactory
from .base import Storage, StoredManifest, TagPage

__all__ = ["BodyFactory", "Storage", "StoredManifest", "TagPage"]
