"""Real signatures, attestations and SBOMs on loopback registries, made by the real tools.

cosign v2.6.5, oras v1.3.6 and regctl v0.11.7 from ``.tools/bin`` (built by scripts/setup.sh)
run in a private world per :class:`SigningWorld`: their own HOME, DOCKER_CONFIG,
REGCTL_CONFIG and TUF_ROOT, and ``HTTPS_PROXY``/``HTTP_PROXY`` pointing at a closed loopback
port with only loopback exempt, so any attempt to reach Rekor, Fulcio or the TUF CDN fails at
once instead of leaving the machine. Every run is also checked for such an attempt.

What keeps cosign offline (found by running it):

* signing with a key pair made here (``COSIGN_PASSWORD``), ``--tlog-upload=false``;
* ``cosign verify``/``verify-attestation --key … --insecure-ignore-tlog --trusted-root EMPTY``:
  without ``--trusted-root`` cosign fetches the TUF trusted root even for a key-based verify
  (legacy mode warns and goes on; the bundle format fails). An empty trusted root is all a
  key-based verification needs, in every mode.

What the tools write on distribution 2.8.2 (no referrers API) is recorded by
tests/integration/test_signing_tools.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .images import OCI_INDEX, OCI_MANIFEST, build_layout
from .registry import RunningRegistry
from .skopeo import copy_oci_to_registry
from .versions import go_binary

COSIGN_PASSWORD = "test-key-password"
#: An empty sigstore trusted root: enough for key-based verification of bundles, and it stops
#: cosign from fetching the public-good instance's root over TUF.
EMPTY_TRUSTED_ROOT = {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}
#: A closed loopback port: anything routed through the "proxy" fails immediately.
DEAD_PROXY = "http://127.0.0.1:9"
_NETWORK_HINTS = ("sigstore.dev", "proxyconnect", "rekor", "fulcio", "tuf-repo")
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"))

CosignMode = Literal["legacy", "oci-1-1", "bundle"]
SPDX_DOCUMENT = {
    "spdxVersion": "SPDX-2.3",
    "dataLicense": "CC0-1.0",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": "oci-promote-test",
    "documentNamespace": "https://example.invalid/oci-promote-test",
    "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: oci-promote-tests"]},
    "packages": [],
}


tool = go_binary


@dataclass(frozen=True)
class KeyPair:
    key: Path
    pub: Path


class SigningWorld:
    """A private configuration world for cosign, oras and regctl, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("home", "docker", "regctl", "tuf", "tmp", "work"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "docker" / "config.json").write_text('{"auths": {}}')
        self.trusted_root = root / "trusted_root.json"
        self.trusted_root.write_text(json.dumps(EMPTY_TRUSTED_ROOT))
        self._files = 0

    def env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
        env.update(
            HOME=str(self.root / "home"),
            DOCKER_CONFIG=str(self.root / "docker"),
            REGCTL_CONFIG=str(self.root / "regctl"),
            TUF_ROOT=str(self.root / "tuf"),
            SIGSTORE_NO_CACHE="true",
            TMPDIR=str(self.root / "tmp"),
            COSIGN_PASSWORD=COSIGN_PASSWORD,
            HTTPS_PROXY=DEAD_PROXY,
            HTTP_PROXY=DEAD_PROXY,
            NO_PROXY="127.0.0.1,localhost,::1",
        )
        return env

    def run(self, name: str, args: list[str], *, extra_env: dict[str, str] | None = None) -> str:
        """Run a tool; its stdout, or AssertionError with stderr. Fails on a network attempt."""
        cmd = [str(tool(name)), *args]
        env = self.env() | (extra_env or {})
        proc = subprocess.run(
            cmd, capture_output=True, env=env, cwd=self.root / "work", timeout=120, check=False
        )
        stderr = proc.stderr.decode(errors="replace")
        if any(hint in stderr.lower() for hint in _NETWORK_HINTS):
            raise AssertionError(f"{name} tried to reach the network: {' '.join(cmd)}\n{stderr}")
        if proc.returncode != 0:
            raise AssertionError(f"{name} failed ({proc.returncode}): {' '.join(cmd)}\nstderr:\n{stderr}")
        return proc.stdout.decode()

    def file(self, content: bytes | str, suffix: str = "") -> Path:
        self._files += 1
        path = self.root / "work" / f"file{self._files}{suffix}"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    # cosign -----------------------------------------------------------------------------

    def key_pair(self, name: str = "cosign") -> KeyPair:
        directory = self.root / "keys" / name
        directory.mkdir(parents=True)
        proc = subprocess.run(
            [str(tool("cosign")), "generate-key-pair"],
            capture_output=True,
            env=self.env(),
            cwd=directory,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"cosign generate-key-pair failed: {proc.stderr.decode(errors='replace')}")
        return KeyPair(directory / "cosign.key", directory / "cosign.pub")

    def cosign_sign(self, ref: str, keys: KeyPair, mode: CosignMode = "legacy") -> None:
        """``legacy``: the ``.sig`` tag; ``oci-1-1``: a referrer manifest
        (``--registry-referrers-mode=oci-1-1``, needs COSIGN_EXPERIMENTAL=1); ``bundle``: a
        sigstore bundle referrer (``--new-bundle-format``)."""
        args = ["sign", "--key", str(keys.key), "--tlog-upload=false", "--allow-insecure-registry", "--yes"]
        extra: dict[str, str] = {}
        if mode == "oci-1-1":
            args.append("--registry-referrers-mode=oci-1-1")
            extra["COSIGN_EXPERIMENTAL"] = "1"
        elif mode == "bundle":
            args.append("--new-bundle-format")
        self.run("cosign", [*args, ref], extra_env=extra)

    def cosign_attest(self, ref: str, keys: KeyPair, *, bundle: bool = False, predicate: Any = None) -> None:
        """An SPDX attestation (``--type spdxjson``): the ``.att`` tag, or a bundle referrer."""
        path = self.file(json.dumps(predicate or SPDX_DOCUMENT), ".spdx.json")
        args = ["attest", "--key", str(keys.key), "--tlog-upload=false", "--allow-insecure-registry", "--yes"]
        args += ["--predicate", str(path), "--type", "spdxjson"]
        self.run("cosign", [*args, *(["--new-bundle-format"] if bundle else []), ref])

    def cosign_attach_sbom(self, ref: str) -> None:
        """cosign's (deprecated) ``attach sbom``: the ``.sbom`` tag."""
        path = self.file(json.dumps(SPDX_DOCUMENT), ".spdx.json")
        args = ["attach", "sbom", "--sbom", str(path), "--type", "spdx", "--input-format", "json"]
        self.run("cosign", [*args, "--allow-insecure-registry", ref])

    def _verify_flags(self, keys: KeyPair, mode: CosignMode) -> list[str]:
        # --trusted-root in every mode: without it even a key-based verify fetches the TUF root.
        flags = ["--key", str(keys.pub), "--insecure-ignore-tlog", "--allow-insecure-registry"]
        flags += ["--trusted-root", str(self.trusted_root)]
        if mode == "oci-1-1":
            flags.append("--experimental-oci11")  # else cosign looks only at the .sig tag
        if mode == "bundle":
            flags.append("--new-bundle-format")
        return flags

    def cosign_verify(self, ref: str, keys: KeyPair, mode: CosignMode = "legacy") -> list[dict[str, Any]]:
        """The verified signature payloads (AssertionError when verification fails)."""
        out = self.run("cosign", ["verify", *self._verify_flags(keys, mode), ref])
        payloads: list[dict[str, Any]] = json.loads(out)  # one JSON array
        return payloads

    def cosign_verify_attestation(
        self, ref: str, keys: KeyPair, *, bundle: bool = False
    ) -> list[dict[str, Any]]:
        out = self.run(
            "cosign",
            [
                "verify-attestation",
                *self._verify_flags(keys, "bundle" if bundle else "legacy"),
                "--type",
                "spdxjson",
                ref,
            ],
        )
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # oras -------------------------------------------------------------------------------

    def oras_attach(
        self, ref: str, artifact_type: str, content: bytes | str, *, annotations: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Attach one file of media type ``artifact_type``; oras's JSON answer (digest, …)."""
        path = self.file(content)
        args = ["attach", "--plain-http", "--no-tty", "--artifact-type", artifact_type, "--format", "json"]
        for key, value in (annotations or {}).items():
            args += ["--annotation", f"{key}={value}"]
        result: dict[str, Any] = json.loads(self.run("oras", [*args, ref, f"{path.name}:{artifact_type}"]))
        return result

    def oras_discover(self, ref: str) -> dict[str, Any]:
        """The referrers tree as ``oras discover --format json`` prints it (all depths)."""
        result: dict[str, Any] = json.loads(
            self.run("oras", ["discover", "--plain-http", "--format", "json", ref])
        )
        return result

    # regctl -----------------------------------------------------------------------------

    @staticmethod
    def _regctl_host(ref: str) -> list[str]:
        return ["--host", f"reg={ref.split('/', 1)[0]},tls=disabled"]

    def regctl_artifact_put(
        self,
        subject: str,
        artifact_type: str,
        content: bytes | str,
        *,
        annotations: dict[str, str] | None = None,
    ) -> None:
        path = self.file(content)
        args = [*self._regctl_host(subject), "artifact", "put", "--subject", subject]
        args += ["--artifact-type", artifact_type, "--file", str(path), "--file-media-type", artifact_type]
        for key, value in (annotations or {}).items():
            args += ["--annotation", f"{key}={value}"]
        self.run("regctl", args)

    def regctl_artifact_list(self, ref: str) -> list[dict[str, Any]]:
        """The referrers' descriptors as ``regctl artifact list`` sees them."""
        out = self.run("regctl", [*self._regctl_host(ref), "artifact", "list", ref, "--format", "{{json .}}"])
        descriptors: list[dict[str, Any]] = json.loads(out)["descriptors"]
        return descriptors


@dataclass(frozen=True)
class PushedImage:
    registry: RunningRegistry
    repo: str
    tag: str
    digest: str
    #: Digests of the child manifests (an index), else empty.
    children: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.registry.host}/{self.repo}@{self.digest}"

    def child_ref(self, child: str) -> str:
        return f"{self.registry.host}/{self.repo}@{child}"


def push_image(
    registry: RunningRegistry, repo: str, tag: str, archs: tuple[str, ...] = ("amd64",)
) -> PushedImage:
    """A fresh small image (an index when several archs) at ``repo:tag``, via skopeo."""
    layout = Path(tempfile.mkdtemp(prefix="signing-image-"))
    try:
        shutil.rmtree(layout)
        digest = build_layout(layout, tag, archs, 1, 512)
        copy_oci_to_registry(layout, tag, registry.ref(repo, tag), registry.creds)
    finally:
        shutil.rmtree(layout, ignore_errors=True)
    children: tuple[str, ...] = ()
    raw = get_manifest(registry, repo, digest)
    body = json.loads(raw or b"{}")
    if "manifests" in body:
        children = tuple(m["digest"] for m in body["manifests"])
    return PushedImage(registry, repo, tag, digest, children)


def get_manifest(registry: RunningRegistry, repo: str, reference: str) -> bytes | None:
    """Manifest bytes at a tag or digest, None on 404."""
    with registry.client(auth=registry.creds) as client:
        response = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.content


def list_tags(registry: RunningRegistry, repo: str) -> list[str]:
    with registry.client(auth=registry.creds) as client:
        response = client.get(f"/v2/{repo}/tags/list")
    response.raise_for_status()
    return sorted(response.json().get("tags") or [])
