"""Write action-runtime/links.html: the address of every wheel the lock pins, by hash.

action.yml installs the lock with `--no-index --find-links` this file, so pip (or uv) reads
no package index page: pydantic-core's page alone is ~7 MB of JSON that pip takes seconds
to read. The installer still picks the wheel for the runner's platform from the links and
checks it against the lock's hash (--require-hashes); a link here adds nothing the lock
does not pin. Run by action-runtime/lock.sh; reads PyPI's simple API (PEP 691).
"""

from __future__ import annotations

import html
import json
import re
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "action-runtime" / "requirements.txt"
LINKS = ROOT / "action-runtime" / "links.html"
INDEX = "https://pypi.org/simple"


def pinned(lock_text: str) -> dict[str, tuple[set[str], set[str]]]:
    """name -> (versions, sha256 hashes) over every line of the lock (markers ignored)."""
    text = re.sub(r"\\\n\s*", " ", lock_text)
    pins: dict[str, tuple[set[str], set[str]]] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        requirement, *hashes = (part.strip() for part in line.split(" --hash="))
        name, version = requirement.split(";", 1)[0].strip().split("==")
        versions, digests = pins.setdefault(name.strip(), (set(), set()))
        versions.add(version.strip())
        digests.update(h.removeprefix("sha256:") for h in hashes)
    return pins


def files(name: str) -> list[dict[str, object]]:
    request = urllib.request.Request(
        f"{INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        data = json.load(response)
    return list(data["files"])


def main() -> int:
    lines = []
    for name, (versions, digests) in sorted(pinned(LOCK.read_text(encoding="utf-8")).items()):
        with_wheels = set()
        for file in files(name):
            filename = str(file["filename"])
            hashes = file["hashes"]
            digest = hashes.get("sha256") if isinstance(hashes, dict) else None
            if digest in digests and filename.endswith(".whl"):
                with_wheels.add(filename.split("-")[1])
                url = f"{str(file['url']).split('#', 1)[0]}#sha256={digest}"
                lines.append((filename, f'<a href="{html.escape(url)}">{html.escape(filename)}</a><br>'))
        if with_wheels != versions:
            missing = sorted(versions - with_wheels)
            print(f"links: no wheel of {name} {missing} on {INDEX} has a locked hash", file=sys.stderr)
            return 1
    body = "\n".join(line for _, line in sorted(lines))
    LINKS.write_text(
        "<!DOCTYPE html>\n<!-- Made by action-runtime/lock.sh from action-runtime/requirements.txt. -->\n"
        f"<html><body>\n{body}\n</body></html>\n",
        encoding="utf-8",
    )
    print(f"links: {len(lines)} wheels in {LINKS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
