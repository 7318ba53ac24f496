"""Which artifact types a referrer counts as, for ``--referrer-type`` and ``--require-referrer``.

A referrer's types are its ``artifactType`` (computed from the manifest, never taken from a
listing: cosign 2.6.5 writes ``application/vnd.oci.empty.v1+json`` into the tag schema index
for its bundles) **and the media types of its layers**. The layer rule gives cosign's legacy
digest tags, which carry no artifactType, the type of what they hold, as cosign writes it
(observed with cosign v2.6.5 on distribution 2.8.2):

========================  ==============================================================
``<alg>-<hex>.sig``       ``application/vnd.dev.cosign.simplesigning.v1+json``
``<alg>-<hex>.att``       ``application/vnd.dsse.envelope.v1+json``
``<alg>-<hex>.sbom``      the SBOM's media type, e.g. ``text/spdx+json``
========================  ==============================================================

and it makes a cosign signature count as ``…simplesigning.v1+json`` in both cosign modes:
in OCI 1.1 mode (``--registry-referrers-mode=oci-1-1``) the manifest's artifactType is
``application/vnd.dev.cosign.artifact.sig.v1+json`` and its layer is the same simplesigning
payload. A sigstore bundle (``--new-bundle-format``) is
``application/vnd.dev.sigstore.bundle.v0.3+json`` (artifactType and layer alike).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import MissingReferrersError
from .model import Referrer

COSIGN_SIGNATURE = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_ATTESTATION = "application/vnd.dsse.envelope.v1+json"
COSIGN_OCI11_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


#: Config types that say nothing about the artifact (the spec's fallback artifactType of a
#: manifest without one, e.g. cosign's legacy `.sig`): never shown as a referrer's type.
_GENERIC_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.oci.empty.v1+json"}
)


def shown_type(referrer: Referrer) -> str | None:
    """The type to report (``--json``, "found:"): the artifactType, unless that is only a
    generic config type, then its first layer's type, which the filter matches."""
    own = referrer.descriptor.artifact_type
    if own in _GENERIC_CONFIGS and referrer.layer_types:
        return referrer.layer_types[0]
    return own


def referrer_types(referrer: Referrer) -> frozenset[str]:
    """Every type this referrer satisfies (see the module docstring)."""
    own = {referrer.descriptor.artifact_type} if referrer.descriptor.artifact_type else set()
    return frozenset(own | set(referrer.layer_types))


def matches(referrer: Referrer, wanted: Iterable[str]) -> bool:
    """True when ``wanted`` is empty (no filter) or names one of the referrer's types."""
    wanted = frozenset(wanted)
    return not wanted or bool(referrer_types(referrer) & wanted)


def check_required(image: str, referrers: Iterable[Referrer], required: Iterable[str]) -> None:
    """``--require-referrer``: raise MissingReferrersError naming every required type that no
    referrer of the image satisfies (run on an unfiltered discovery, before anything is written)."""
    found: set[str] = set()
    for referrer in referrers:
        found |= referrer_types(referrer)
    missing = [t for t in dict.fromkeys(required) if t not in found]
    if missing:
        meaningful = found - _GENERIC_CONFIGS or found  # what a --require-referrer could name
        raise MissingReferrersError(image, missing, sorted(meaningful))
