#!/bin/sh
# Stages the npm packages from a compozy binary and packs them into OUTDIR:
#   compozy-VERSION.tgz            the launcher package (`compozy`)
#   compozy-PLATFORM-VERSION.tgz   the binary package (`@compozy/PLATFORM`)
# VERSION is Cargo.toml's. Without --binary, `cargo build --release` builds the binary first.
# --platform names the binary's platform (linux-x64, linux-arm64, darwin-x64, darwin-arm64);
# the default is this machine's. Pack a binary built for another target with its --platform (it
# is packed as it is: strip it with the target's `strip` first).
set -eu

usage() {
  echo "usage: npm/pack.sh [--binary PATH] [--platform NAME] OUTDIR" >&2
  exit 2
}

root=$(cd "$(dirname "$0")/.." && pwd)
binary=
platform=
outdir=
while [ $# -gt 0 ]; do
  case $1 in
    --binary) [ $# -ge 2 ] || usage; binary=$2; shift 2 ;;
    --platform) [ $# -ge 2 ] || usage; platform=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "npm/pack.sh: unknown option $1" >&2; usage ;;
    *) [ -z "$outdir" ] || usage; outdir=$1; shift ;;
  esac
done
[ -n "$outdir" ] || usage

# The [package] version of Cargo.toml: the first `version = "…"` line, which is the package's.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || { echo "npm/pack.sh: no version in $root/Cargo.toml" >&2; exit 1; }

host=
case $(uname -sm) in
  "Linux x86_64" | "Linux amd64") host=linux-x64 ;;
  "Linux aarch64" | "Linux arm64") host=linux-arm64 ;;
  "Darwin x86_64") host=darwin-x64 ;;
  "Darwin arm64") host=darwin-arm64 ;;
esac
if [ -z "$platform" ]; then
  [ -n "$host" ] || { echo "npm/pack.sh: no package for $(uname -sm); pass --platform" >&2; exit 2; }
  platform=$host
fi
case $platform in
  linux-x64 | linux-arm64 | darwin-x64 | darwin-arm64) ;;
  *) echo "npm/pack.sh: unknown platform $platform (linux-x64, linux-arm64, darwin-x64, darwin-arm64)" >&2; exit 2 ;;
esac
# The launcher and the main package must know every platform that has a package.
for file in "$root/npm/compozy/bin/compozy" "$root/npm/compozy/package.json"; do
  grep -q "$platform" "$file" || { echo "npm/pack.sh: $file does not list $platform" >&2; exit 1; }
done
os=${platform%-*}
cpu=${platform#*-}

if [ -z "$binary" ]; then
  (cd "$root" && cargo build --release --locked)
  binary=${CARGO_TARGET_DIR:-$root/target}/release/compozy
fi
[ -f "$binary" ] || { echo "npm/pack.sh: no binary at $binary" >&2; exit 1; }
# A stale binary would be published under the wrong version; a foreign one cannot be run here.
if [ "$platform" = "$host" ]; then
  got=$("$binary" --version)
  [ "$got" = "compozy $version" ] || {
    echo "npm/pack.sh: $binary says \"$got\", Cargo.toml says $version: rebuild it" >&2
    exit 1
  }
fi

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
stage=$(mktemp -d "${TMPDIR:-/tmp}/compozy-npm.XXXXXX")
trap 'rm -rf "$stage"' EXIT

fill() {
  sed -e "s/@VERSION@/$version/g" -e "s/@PLATFORM@/$platform/g" -e "s/@OS@/$os/g" \
    -e "s/@CPU@/$cpu/g" "$1"
}

mkdir -p "$stage/compozy/bin" "$stage/platform/bin"
fill "$root/npm/compozy/package.json" >"$stage/compozy/package.json"
fill "$root/npm/compozy/bin/compozy" >"$stage/compozy/bin/compozy"
cp "$root/npm/compozy/README.md" "$stage/compozy/README.md"
chmod 755 "$stage/compozy/bin/compozy"

fill "$root/npm/platform/package.json" >"$stage/platform/package.json"
fill "$root/npm/platform/README.md" >"$stage/platform/README.md"
if [ "$os" != linux ]; then
  # `libc` only means something on Linux.
  sed -i.bak '/"libc"/d' "$stage/platform/package.json" && rm "$stage/platform/package.json.bak"
fi
# Symbols are of no use to a user (a crash prints a request for a bug report, not a backtrace) and
# are most of a debug build: strip the copy when it is for this machine, whose `strip` reads it.
if [ "$platform" = "$host" ] && command -v strip >/dev/null; then
  strip -o "$stage/platform/bin/compozy" "$binary"
else
  [ "$platform" != "$host" ] || echo "npm/pack.sh: no \`strip\` on PATH; packing $binary with its symbols" >&2
  cp "$binary" "$stage/platform/bin/compozy"
fi
chmod 755 "$stage/platform/bin/compozy"

npm pack --ignore-scripts --silent --pack-destination "$outdir" "$stage/platform" "$stage/compozy" >/dev/null
echo "$outdir/compozy-$platform-$version.tgz"
echo "$outdir/compozy-$version.tgz"
