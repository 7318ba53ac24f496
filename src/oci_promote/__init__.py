"""oci-promote: copy container images between registries without changing their digest.

>>> import oci_promote
>>> result = oci_promote.copy("ghcr.io/acme/api:1.4.2", ["registry.example.com/prod/api"])
>>> result.digest
'sha256:...'

The library reads no `OCI_PROMOTE_*` variable: everything it does is in its
arguments (`copy`) or in a `CopyOptions` (`copy_async`). `diff` and `verify` (and
their async forms) are the read-only forensics the CLI and the Action use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

# Names are imported on first use (PEP 562): `oci-promote` starts with the standard library
# only, so a Ctrl-C or SIGTERM during start-up meets its handler, not a traceback.
if TYPE_CHECKING:
    from .api import (
        copy,
        copy_async,
        diff,
        diff_async,
        resolve_digest,
        resolve_digest_async,
        verify,
        verify_async,
    )
    from .causes import Cause, Comparison
    from .errors import (
        AuthenticationError,
        AuthorizationError,
        CredentialsError,
        DigestMismatchError,
        ExplainedError,
        IncompleteSourceError,
        InvalidDigestError,
        InvalidReferenceError,
        ManifestError,
        NotFoundError,
        PromoteError,
        ProtectedTagError,
        RegistryError,
        TransportError,
        UsageError,
    )
    from .events import (
        BlobDone,
        BlobProgress,
        BlobStarted,
        DestinationPlanned,
        Event,
        EventCallback,
        ManifestPushed,
        PhaseEntered,
        SourceResolved,
        TagMoved,
    )
    from .forensics.verify import VerifyOutcome
    from .options import ConnectOptions, CopyOptions, CredentialProvider, copy_options
    from .result import CopyResult, DestinationResult
    from .transport.credentials import Credential
    from .types.digest import Digest, parse_digest
    from .types.reference import Reference, parse_reference
    from .types.secret import Secret

_HOMES: dict[str, tuple[str, ...]] = {
    "api": (
        "copy",
        "copy_async",
        "diff",
        "diff_async",
        "resolve_digest",
        "resolve_digest_async",
        "verify",
        "verify_async",
    ),
    "causes": ("Cause", "Comparison"),
    "forensics.verify": ("VerifyOutcome",),
    "transport.credentials": ("Credential",),
    "types.digest": ("Digest", "parse_digest"),
    "errors": (
        "AuthenticationError",
        "AuthorizationError",
        "CredentialsError",
        "DigestMismatchError",
        "ExplainedError",
        "IncompleteSourceError",
        "InvalidDigestError",
        "InvalidReferenceError",
        "ManifestError",
        "NotFoundError",
        "PromoteError",
        "ProtectedTagError",
        "RegistryError",
        "TransportError",
        "UsageError",
    ),
    "events": (
        "BlobDone",
        "BlobProgress",
        "BlobStarted",
        "DestinationPlanned",
        "Event",
        "EventCallback",
        "ManifestPushed",
        "PhaseEntered",
        "SourceResolved",
        "TagMoved",
    ),
    "options": ("ConnectOptions", "CopyOptions", "CredentialProvider", "copy_options"),
    "types.reference": ("Reference", "parse_reference"),
    "result": ("CopyResult", "DestinationResult"),
    "types.secret": ("Secret",),
}
__getattr__ = lazy_exports(__name__, _HOMES)


def __dir__() -> list[str]:
    """The lazy exports too, so `help()`, pydoc and IDEs list `copy`, `copy_async` and the rest."""
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "BlobDone",
    "BlobProgress",
    "BlobStarted",
    "Cause",
    "Comparison",
    "ConnectOptions",
    "CopyOptions",
    "CopyResult",
    "Credential",
    "CredentialProvider",
    "CredentialsError",
    "DestinationPlanned",
    "DestinationResult",
    "Digest",
    "DigestMismatchError",
    "Event",
    "EventCallback",
    "ExplainedError",
    "IncompleteSourceError",
    "InvalidDigestError",
    "InvalidReferenceError",
    "ManifestError",
    "ManifestPushed",
    "NotFoundError",
    "PhaseEntered",
    "PromoteError",
    "ProtectedTagError",
    "Reference",
    "RegistryError",
    "Secret",
    "SourceResolved",
    "TagMoved",
    "TransportError",
    "UsageError",
    "VerifyOutcome",
    "copy",
    "copy_async",
    "copy_options",
    "diff",
    "diff_async",
    "parse_digest",
    "parse_reference",
    "resolve_digest",
    "resolve_digest_async",
    "verify",
    "verify_async",
]
