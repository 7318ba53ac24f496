#!/usr/bin/env bash
# Install what is missing for the demo, the tests and the bench: the CNCF distribution
# registry, skopeo and buildah (Debian packages), GNU time, a virtual environment with the
# project and its test extras, and the Go peers (crane, regctl, regsync for the release bench,
# oras, cosign; act, the GitHub Actions runner the Action's tests run it under, and
# actionlint, which checks workflows that use it; and olareg, a registry that serves the
# OCI 1.1 referrers API) built from the Go module proxy at pinned
# versions into .tools/bin (gitignored, never on the user's PATH).
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

# The newest `go` directive among these modules' go.mod files (oras v1.3.6: go 1.26.7).
GO_MIN=1.26.7
GO_PEERS=(
  github.com/google/go-containerregistry/cmd/crane@v0.22.1
  github.com/regclient/regclient/cmd/regctl@v0.11.7
  github.com/regclient/regclient/cmd/regsync@v0.11.7
  oras.land/oras/cmd/oras@v1.3.6
  github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5
  github.com/nektos/act@v0.2.89
  github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
)
# The proxy serves olareg v0.1.2 by exact version but refuses its version list, which
# `go install MOD@VER` reads for deprecation notices; so this one is downloaded from the proxy
# with `go mod download` and built in place. The stamp file records what was built.
OLAREG=github.com/olareg/olareg@v0.1.2

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
    peer_problem "go not found on PATH: install Go >= $GO_MIN to build ${GO_PEERS[*]}"
    return
  fi
  local have
  have=$(GOTOOLCHAIN=local go env GOVERSION)
  have=${have#go}
  if ! version_at_least "$have" "$GO_MIN"; then
    peer_problem "go $have is too old: these modules need Go >= $GO_MIN (${GO_PEERS[*]})"
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
  if [ "$(cat .tools/bin/olareg.built-from 2>/dev/null)" != "$OLAREG" ] || [ ! -x .tools/bin/olareg ]; then
    echo "setup: go build $OLAREG (cmd/olareg)" >&2
    local dir
    if dir=$(GOTOOLCHAIN=local GOFLAGS=-modcacherw go mod download -json "$OLAREG" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') \
      && [ -n "$dir" ] \
      && GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -modcacherw -mod=mod" go build -C "$dir" -o "$PWD/.tools/bin/olareg" ./cmd/olareg >&2; then
      echo "$OLAREG" >.tools/bin/olareg.built-from
    else
      failed+=("$OLAREG")
    fi
  fi
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
