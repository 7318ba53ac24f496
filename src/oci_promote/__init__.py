"""oci-promote: copy container images between registries without changing their digest."""

from __future__ import annotations

__all__: list[str] = []
