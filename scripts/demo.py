"""Demo: promote a real multi-platform image between two local registries, digest intact.

Starts two CNCF distribution registries on loopback ports with temporary
storage, loads regclient's `v3` test image (an OCI index of four platforms)
from the shared fixtures into the first, promotes it to the second with
`oci-promote copy`, and shows that skopeo, an independent tool, reads the very
same bytes, hence the same digest, at the destination.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testkit import skopeo  # noqa: E402
from testkit.registry import start_registry  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "regclient-testrepo"
CLI = [sys.executable, "-m", "oci_promote"]


def step(text: str) -> None:
    print(f"\n==> {text}", file=sys.stderr, flush=True)


def promote(*args: str) -> str:
    print("$ oci-promote " + " ".join(args), file=sys.stderr, flush=True)
    done = subprocess.run([*CLI, *args], stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        sys.exit(done.returncode)
    return done.stdout.strip()


def main() -> int:
    if not (FIXTURE / "index.json").is_file():
        print(f"demo: the fixture image is not at {FIXTURE}", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="oci-promote-demo-") as tmp,
        start_registry(Path(tmp) / "staging") as staging,
        start_registry(Path(tmp) / "prod") as prod,
    ):
        step(f"two registries are up: staging at {staging.host}, production at {prod.host}")
        step("load a real image (an OCI index of 4 platforms) from an OCI layout into staging")
        promote("copy", f"oci:{FIXTURE}:v3", f"{staging.host}/acme/api:v3")
        step("promote it from staging to production")
        pinned = promote("copy", f"{staging.host}/acme/api:v3", f"{prod.host}/prod/api:1.0.0")
        step("check with skopeo, independently, that production serves the same bytes")
        source_raw = skopeo.inspect_raw(f"{staging.host}/acme/api:v3")
        dest_raw = skopeo.inspect_raw(f"{prod.host}/prod/api:1.0.0")
        same = source_raw == dest_raw
        print(f"staging    sha256:{hashlib.sha256(source_raw).hexdigest()}", file=sys.stderr)
        print(f"production sha256:{hashlib.sha256(dest_raw).hexdigest()}", file=sys.stderr)
        step("promote again: nothing is sent, the destination already has the digest")
        promote("copy", f"{staging.host}/acme/api:v3", f"{prod.host}/prod/api:1.0.0")
        step("pinned reference, ready for a deployment:")
        print(pinned, flush=True)
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
