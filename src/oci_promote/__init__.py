"""oci-promote: copy container images between registries without changing their digest.

>>> import oci_promote
>>> result = oci_promote.copy("ghcr.io/acme/api:1.4.2", ["registry.example.com/prod/api"])
>>> result.digest
'sha256:...'
"""

from __future__ import annotations

from .api import copy, copy_async, resolve_digest, resolve_digest_async
from .copy import CopyResult, DestinationResult
from .digest import Digest, parse_digest
from .errors import (
    AuthenticationError,
    AuthorizationError,
    CredentialsError,
    DigestMismatchError,
    IncompleteSourceError,
    InvalidDigestError,
    InvalidReferenceError,
    ManifestError,
    NotFoundError,
    PromoteError,
    RegistryError,
    TransportError,
    UsageError,
)
from .reference import Reference, parse_reference
from .settings import Settings

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "CopyResult",
    "CredentialsError",
    "DestinationResult",
    "Digest",
    "DigestMismatchError",
    "IncompleteSourceError",
    "InvalidDigestError",
    "InvalidReferenceError",
    "ManifestError",
    "NotFoundError",
    "PromoteError",
    "Reference",
    "RegistryError",
    "Settings",
    "TransportError",
    "UsageError",
    "copy",
    "copy_async",
    "parse_digest",
    "parse_reference",
    "resolve_digest",
    "resolve_digest_async",
]
