# The action's set-up helper (see action.yml): names its virtual environment and decides
# whether an environment found on disk (left by an earlier use in this job, or restored by
# actions/cache from an earlier job) may be trusted.
#
# It runs under the runner's python3 first, before anything says that Python is recent
# enough: it parses on Python 3.6 and later, and says so (exit 3) before anything else
# when the Python is older than 3.10. Standard library only.
#
#   python3 venv.py key                 -> GITHUB_OUTPUT: ok, key, venv, ready
#   VENV_PYTHON -I venv.py check KEY    -> exit 0 if the environment is the one KEY names
#   VENV_PYTHON -I venv.py seal KEY     -> after an install: record what KEY names
#   VENV_PYTHON -I venv.py site         -> print the environment's site-packages
#   python3 venv.py prefetch LINKS DIR  -> fetch LINKS' pure-Python wheels into DIR, in
#                                          parallel; print DIR/links.html (those local)
#
# Environment: GITHUB_ACTION_PATH (the checkout: lock file and src/), RUNNER_TEMP,
# RUNNER_OS, RUNNER_ARCH, GITHUB_OUTPUT.
import hashlib
import html
import os
import re
import shutil
import ssl
import sys
import sysconfig
import urllib.request
from concurrent.futures import ThreadPoolExecutor

MINIMUM = (3, 10)
#: Bump when the layout of the environment changes, so no older cache is ever trusted.
LAYOUT = "1"
MARKER = ".oci-promote-key"
PTH = "oci_promote_checkout.pth"


def _action_path():
    return os.environ["GITHUB_ACTION_PATH"]


def _sha256(data, length):
    return hashlib.sha256(data).hexdigest()[:length]


def compute_key():
    """Runner OS and architecture, the interpreter (version and install), the lock file."""
    with open(os.path.join(_action_path(), "action-runtime", "requirements.txt"), "rb") as f:
        lock = _sha256(f.read(), 16)
    # sys.base_prefix is the same under python3 and under the venv's python made from it.
    build = _sha256((sys.version + "\0" + os.path.realpath(sys.base_prefix)).encode(), 8)
    python = sys.implementation.name + ".".join(str(n) for n in sys.version_info[:3])
    runner = [os.environ.get("RUNNER_OS", "os"), os.environ.get("RUNNER_ARCH", "arch")]
    return "-".join(["oci-promote-venv" + LAYOUT, *runner, python, build, lock])


def _site():
    return sysconfig.get_path("purelib")


def _installed(site):
    """The distributions in site-packages, as `name-version.dist-info` directory names."""
    return sorted(name for name in os.listdir(site) if name.endswith(".dist-info"))


def _link_checkout(site):
    """Put the action's src/ on sys.path through a .pth file: -I ignores PYTHONPATH, not .pth."""
    path = os.path.join(site, PTH)
    line = os.path.join(_action_path(), "src") + "\n"
    try:
        with open(path) as f:
            if f.read() == line:
                return
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(line)


def key():
    if sys.version_info[:2] < MINIMUM:
        return 3
    name = compute_key()
    # One directory per interpreter and lock (the key's last two parts), so two Pythons in
    # one job never share one; actions/cache restores it to the same absolute path.
    venv = os.path.join(os.environ["RUNNER_TEMP"], "oci-promote-" + "-".join(name.split("-")[-2:]))
    try:
        with open(os.path.join(venv, MARKER)) as f:
            ready = f.readline().strip() == name
    except OSError:
        ready = False
    with open(os.environ["GITHUB_OUTPUT"], "a") as out:
        out.write(f"key={name}\nvenv={venv}\nready={'true' if ready else 'false'}\n")
    return 0


def check(expected):
    """Trust an environment only if this interpreter is the one the key names, and the marker
    written after its install lists exactly the distributions that are there now."""
    problem = None
    site = _site()
    if compute_key() != expected:
        problem = "it was made by another Python or for another lock file"
    else:
        try:
            with open(os.path.join(sys.prefix, MARKER)) as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        if not lines or lines[0] != expected:
            problem = "its install did not finish"
        elif lines[1:] != _installed(site):
            problem = "its installed distributions changed"
    if problem is not None:
        sys.stderr.write(f"oci-promote: not using the environment in {sys.prefix}: {problem}\n")
        return 1
    _link_checkout(site)
    return 0


def seal(expected):
    site = _site()
    if compute_key() != expected:
        sys.stderr.write("oci-promote: the environment's Python is not the one the key names\n")
        return 1
    _link_checkout(site)
    with open(os.path.join(sys.prefix, MARKER), "w") as f:
        f.write("\n".join([expected, *_installed(site)]) + "\n")
    return 0


def prefetch(links, into):
    """pip downloads one file after another; most of the lock is pure-Python wheels that fit
    every platform, so fetch those at once and let pip take them from disk. pip still checks
    every file against the lock's hashes; on any error here, the caller uses LINKS as is."""
    with open(links) as f:
        text = f.read()
    anchors = re.findall(r'<a href="([^"#]+)#sha256=([0-9a-f]{64})">([^<]+)</a>', text)
    pure = [(html.unescape(url), name) for url, _, name in anchors if name.endswith("-none-any.whl")]
    os.makedirs(into, exist_ok=True)
    tls = ssl.create_default_context()  # once: loading the CA bundle costs more than a fetch

    def fetch(item):
        url, name = item
        response = urllib.request.urlopen(url, timeout=10, context=tls)
        try:
            with open(os.path.join(into, name), "wb") as out:
                shutil.copyfileobj(response, out)
        finally:
            response.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(fetch, pure))
    local = {name for _, name in pure}
    lines = []
    for url, digest, name in anchors:
        where = "file://" + urllib.request.pathname2url(os.path.join(into, name)) if name in local else url
        lines.append(f'<a href="{where}#sha256={digest}">{name}</a><br>')
    page = os.path.join(into, "links.html")
    with open(page, "w") as f:
        f.write("<!DOCTYPE html>\n<html><body>\n" + "\n".join(lines) + "\n</body></html>\n")
    print(page)
    return 0


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    if command == "key" and len(argv) == 2:
        return key()
    if command == "check" and len(argv) == 3:
        return check(argv[2])
    if command == "seal" and len(argv) == 3:
        return seal(argv[2])
    if command == "prefetch" and len(argv) == 4:
        return prefetch(argv[2], argv[3])
    if command == "site" and len(argv) == 2:
        print(_site())
        return 0
    sys.stderr.write("usage: venv.py key | check KEY | seal KEY | site | prefetch LINKS DIR\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
