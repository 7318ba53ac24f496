#!/usr/bin/env bash
# Install what is missing for the demo, the tests and the bench: the CNCF distribution
# registry, skopeo and buildah (Debian packages), GNU time, a virtual environment with the
# project and its test extras, and the Go tools of scripts/go-tools.txt (the peers crane,
# regctl, regsync, oras, cosign; act, the GitHub Actions runner the Action's tests run it
# under; actionlint, which checks workflows that use it; and olareg, a registry that serves
# the OCI 1.1 referrers API) built from the Go module proxy at the versions pinned there into
# .tools/bin (gitignored, never on the user's PATH).
# Safe to run again: a peer already built from its pinned module version is kept.
#
# Usage: scripts/setup.sh [--demo]
#   Without Go (>= GO_MIN) or when a module fails to build, set-up fails, naming the module:
#   the interop tests and the bench need the peers, and CI must not pass by skipping them.
#   --demo installs only what scripts/demo.sh runs: docker-registry and skopeo, and the
#   project with its `demo` extra (what the registry harness imports); no Go peer, no
#   test tool, no buildah.
set -euo pipefail
cd "$(dirname "$0")/.."

demo=0
[ "${1:-}" = "--demo" ] && demo=1

# The newest `go` directive among the Go tools' go.mod files (oras's: go 1.26.7).
GO_MIN=1.26.7
# The Go tools and their versions are pinned once, in scripts/go-tools.txt (see there).
GO_PEERS=()    # PACKAGE@VERSION, built with go install
GO_IN_PLACE=() # "MODULE@VERSION PACKAGE": downloaded with go mod download, built in place
while read -r spec package; do
  case "$spec" in '' | '#'*) continue ;; esac
  if [ -n "$package" ]; then GO_IN_PLACE+=("$spec $package"); else GO_PEERS+=("$spec"); fi
done <scripts/go-tools.txt

missing=()
apt_flags=()
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v skopeo >/dev/null || missing+=(skopeo)
if [ "$demo" -eq 1 ]; then
  apt_flags+=(--no-install-recommends)  # the demo runs neither skopeo's nor the registry's extras
else
  command -v buildah >/dev/null || missing+=(buildah)
  [ -x /usr/bin/time ] || missing+=(time)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${apt_flags[@]}" "${missing[@]}" >&2
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
extra=test
[ "$demo" -eq 1 ] && extra=demo
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${extra}]" >&2
[ "$demo" -eq 1 ] && exit 0

peer_problem() {
  echo "setup: error: $1" >&2
  echo "setup: the interop tests, the Action's act tests and bench/ need the Go peers" >&2
  exit 1
}

# "PACKAGE@VERSION" a binary was built from (its embedded build info), or nothing.
built_from() {
  go version -m "$1" 2>/dev/null | awk '$1 == "path" { p = $2 } $1 == "mod" && !v { v = $3 } END { if (p && v) print p "@" v }'
}

version_at_least() { # A B: is A >= B (dotted versions)?
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

install_peers() {
  if ! command -v go >/dev/null; then
    peer_problem "go not found on PATH: install Go >= $GO_MIN to build the tools in scripts/go-tools.txt"
    return
  fi
  local have
  have=$(GOTOOLCHAIN=local go env GOVERSION)
  have=${have#go}
  if ! version_at_least "$have" "$GO_MIN"; then
    peer_problem "go $have is too old: the tools in scripts/go-tools.txt need Go >= $GO_MIN"
    return
  fi
  mkdir -p .tools/bin
  local spec tool failed=()
  for spec in "${GO_PEERS[@]}"; do
    tool=${spec%@*}
    tool=${tool##*/}
    [ "$(built_from ".tools/bin/$tool")" = "$spec" ] && continue
    echo "setup: go install $spec" >&2
    # GOTOOLCHAIN=local: never fetch a Go toolchain binary; GOFLAGS as a user would build it.
    if ! GOBIN="$PWD/.tools/bin" GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -modcacherw" go install "$spec" >&2; then
      failed+=("$spec")
    fi
  done
  local entry package dir
  for entry in "${GO_IN_PLACE[@]}"; do
    spec=${entry% *}
    package=${entry#* }
    tool=${package##*/}
    # go version -m shows (devel) for a build in place, so a stamp file records what was built.
    [ "$(cat ".tools/bin/$tool.built-from" 2>/dev/null)" = "$spec" ] && [ -x ".tools/bin/$tool" ] && continue
    echo "setup: go build $spec ($package)" >&2
    if dir=$(GOTOOLCHAIN=local GOFLAGS=-modcacherw go mod download -json "$spec" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') \
      && [ -n "$dir" ] \
      && GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -modcacherw -mod=mod" go build -C "$dir" -o "$PWD/.tools/bin/$tool" "$package" >&2; then
      echo "$spec" >".tools/bin/$tool.built-from"
    else
      failed+=("$spec")
    fi
  done
  if [ ${#failed[@]} -gt 0 ]; then
    peer_problem "go install failed for ${failed[*]} (refused by the module proxy or not building with go $have; see above)"
  fi
}
install_peers

# The Action's act test with the cache on runs a stand-in for actions/cache
# (tests/action/cache-action): @actions/cache from the npm registry, at its lock's versions.
stand_in=tests/action/cache-action
if ! command -v npm >/dev/null; then
  echo "setup: error: npm not found: the Action's act tests need node and npm" >&2
  exit 1
fi
if [ ! "$stand_in/node_modules/.package-lock.json" -nt "$stand_in/package-lock.json" ]; then
  echo "setup: npm ci in $stand_in" >&2
  npm ci --prefix "$stand_in" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
fi
