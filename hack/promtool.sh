#!/usr/bin/env bash
# Install promtool PROMTOOL_VERSION into DIR (a cache directory), without root at test time.
#
#   hack/promtool.sh 2.42.0 ~/.cache/mcpops/promtool-2.42.0
#
# 1. Debian's `prometheus` package: `apt-get download` (no root needed) + `dpkg -x`, taking
#    only usr/bin/promtool. If the package lists are missing, `apt-get update` is tried
#    (it works as root; otherwise this step is skipped).
# 2. Otherwise (no apt, or Debian ships another upstream version, or MCPOPS_PROMTOOL_FROM_GO
#    is set): build promtool from the Go module pinned in hack/promtool/go.mod (the same
#    upstream version).
set -euo pipefail

version=${1:?usage: promtool.sh VERSION DIR}
dir=${2:?usage: promtool.sh VERSION DIR}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

from_debian() {
  [ -z "${MCPOPS_PROMTOOL_FROM_GO:-}" ] || return 1 # to exercise the fallback
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 1
  (cd "$work" && apt-get download prometheus >/dev/null 2>&1) || {
    # A fresh machine may have no package lists yet.
    apt-get update -qq >/dev/null 2>&1 || return 1
    (cd "$work" && apt-get download prometheus >/dev/null 2>&1) || return 1
  }
  local deb
  deb=$(ls "$work"/prometheus_*.deb)
  local got
  got=$(dpkg-deb -f "$deb" Version)
  case "$got" in
    "${version}+"* | "${version}-"*) ;;
    *)
      echo ">> Debian's prometheus is $got, not ${version}: building promtool instead" >&2
      return 1
      ;;
  esac
  dpkg-deb -x "$deb" "$work/x"
  install -D -m 0755 "$work/x/usr/bin/promtool" "$dir/promtool"
  echo ">> promtool ${version} from Debian's prometheus ${got} in $dir"
}

from_go() {
  command -v go >/dev/null || return 1
  echo ">> building promtool ${version} from hack/promtool/go.mod into $dir (takes minutes)"
  (cd "$here/promtool" && GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=${version}" \
    -o "$dir/promtool" github.com/prometheus/prometheus/cmd/promtool)
}

mkdir -p "$dir"
from_debian || from_go || {
  echo "promtool: neither Debian's prometheus package nor a Go toolchain is available" >&2
  exit 1
}
"$dir/promtool" --version >/dev/null
