#!/usr/bin/env bash
# Installs what Gatehouse's development server and tests need beyond npm packages:
# the Temporal CLI and a Vault-API server (both built from the Go module proxy and cached
# outside the repository), and OpenLDAP and Chromium from Debian's packages.
# Safe to run again: each step is skipped when its result is already present.
#
# Usage: scripts/setup.sh [--quiet] [--no-apt] [--best-effort]
#   --best-effort  report a failed build and carry on (npm start then says what is missing)
set -euo pipefail

QUIET=0
APT=1
BEST_EFFORT=0
for arg in "$@"; do
  case "$arg" in
    --quiet) QUIET=1 ;;
    --no-apt) APT=0 ;;
    --best-effort) BEST_EFFORT=1 ;;
    *) echo "setup: unknown option $arg (expected --quiet, --no-apt or --best-effort)" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GATEHOUSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse}"
BIN="$CACHE/bin"
mkdir -p "$BIN"

say() { [ "$QUIET" = 1 ] || echo "setup: $*"; }
fail() {
  echo "setup: $*" >&2
  # Under --best-effort the step's subshell ends, the script goes on.
  exit 1
}
step() {
  if [ "$BEST_EFFORT" = 1 ]; then
    ( "$@" ) || true
  else
    ( "$@" ) || exit 1
  fi
}

# The Temporal CLI carries the dev server (`temporal server start-dev`). v1.5.1 is the newest
# tag that `go install` accepts: later tags carry a replace directive, which it refuses.
TEMPORAL_VERSION=v1.5.1
# HashiCorp Vault 1.14.x is the last MPL-2.0 line (1.15 moved to the BSL). See build_vault.
VAULT_VERSION=v1.14.2

need_go() {
  command -v go >/dev/null 2>&1 || fail "Go is not installed; it is needed once to build the Temporal CLI and Vault into $BIN. Install Go 1.21+ or set TEMPORAL_CLI_PATH and VAULT_BIN to existing binaries."
}

build_temporal() {
  if [ -x "$BIN/temporal" ] && "$BIN/temporal" --version >/dev/null 2>&1; then
    say "temporal CLI present ($BIN/temporal)"
    return
  fi
  need_go
  say "building the Temporal CLI $TEMPORAL_VERSION from the Go module proxy (several minutes, once)"
  local log="$CACHE/temporal-build.log"
  if ! GOBIN="$BIN" GOFLAGS=-buildvcs=false go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_VERSION" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    fail "building the Temporal CLI failed (full log: $log). Check that the Go module proxy is reachable, or set TEMPORAL_CLI_PATH."
  fi
  say "temporal CLI built: $BIN/temporal"
}

# Vault 1.14's go.mod replaces its own api/ and sdk/ modules with folders of its source tree,
# and `go install` refuses modules with replace directives. So we build through a wrapper
# module (scripts/vault-build) whose main calls github.com/hashicorp/vault/command, where
# Vault's replaces do not apply and the published sdk module is used instead. The published
# sdk v0.9.2 adds a start-up self-check (CreateOperation without ExistenceCheck) that trips on
# an enterprise-only stub path Vault 1.14 registers, a path Gatehouse never calls; the
# wrapper builds against a copy of sdk v0.9.2 with that one check disabled
# (sdk-existence-check.patch). OpenBao, the other MPL line, is not served by the module
# proxy these machines reach. `-checklinkname=0` lets 2023-era dependencies link on Go 1.23+.
build_vault() {
  if [ -x "$BIN/vault" ] && "$BIN/vault" version 2>/dev/null | grep -q "Vault ${VAULT_VERSION}"; then
    say "vault present ($BIN/vault)"
    return
  fi
  need_go
  say "building Vault $VAULT_VERSION from the Go module proxy (several minutes, once)"
  local work="$CACHE/build/vault"
  local log="$CACHE/vault-build.log"
  rm -rf "$work"
  mkdir -p "$work"
  cp "$ROOT/scripts/vault-build/main.go" "$ROOT/scripts/vault-build/go.mod" "$work/"
  (
    cd "$work"
    export GOFLAGS="-buildvcs=false -mod=mod"
    go mod download github.com/hashicorp/vault/sdk@v0.9.2
    cp -r "$(go env GOMODCACHE)/github.com/hashicorp/vault/sdk@v0.9.2" sdk
    chmod -R u+w sdk
    patch -s -p1 -d sdk <"$ROOT/scripts/vault-build/sdk-existence-check.patch"
    go build -ldflags='-checklinkname=0 -s -w' -o "$BIN/vault.tmp" .
    mv "$BIN/vault.tmp" "$BIN/vault"
  ) >"$log" 2>&1 || {
    tail -n 20 "$log" >&2
    fail "building Vault failed (full log: $log). Check that the Go module proxy is reachable, or set VAULT_BIN."
  }
  rm -rf "$work"
  say "vault built: $BIN/vault"
}

install_debian_packages() {
  local missing=()
  command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] || missing+=(slapd)
  command -v ldapadd >/dev/null 2>&1 || missing+=(ldap-utils)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ ${#missing[@]} -eq 0 ]; then
    say "slapd, ldap-utils and chromium present"
    return
  fi
  if [ "$APT" = 0 ]; then
    say "skipping Debian packages (${missing[*]}) because of --no-apt"
    return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    fail "missing ${missing[*]}: install them with your package manager (Debian: sudo apt-get install ${missing[*]}), then run this again."
  fi
  say "installing ${missing[*]} from Debian's packages"
  local log="$CACHE/apt.log"
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    fail "apt-get install ${missing[*]} failed (full log: $log)"
  fi
}

step build_temporal
step build_vault
step install_debian_packages
say "done: binaries in $BIN"
