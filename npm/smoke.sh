#!/bin/sh
# Proves the npm layout end to end, offline: packs the two packages (npm/pack.sh), installs the
# tarballs into a fresh temporary project, then runs `compozy gen` and `compozy exec` of a small
# tool through `npx compozy …` (the tool on Node) and `bunx compozy …` (the tool on Bun).
# usage: npm/smoke.sh [--binary PATH]   (without --binary: the release build, as npm/pack.sh)
# Needs npm and the pinned bun and node of `npm ci` in the repository's node_modules/.bin.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
pinned=$root/node_modules/.bin
die() {
  echo "npm/smoke.sh: $*" >&2
  exit 1
}
command -v npm >/dev/null || die "npm is required (it installs the packed packages) and is not on PATH"
command -v npx >/dev/null || die "npx is required and is not on PATH"
for tool in bun bunx node; do
  [ -x "$pinned/$tool" ] || die "$pinned/$tool is missing: run \`npm ci\` in $root"
done
# Bound every step: a hung install or run fails the script instead of hanging it.
if command -v timeout >/dev/null; then bounded="timeout 120"; else bounded=; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/compozy-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$root/npm/pack.sh" "$@" "$work/dist" >"$work/tarballs"
platform_tgz=$(sed -n 1p "$work/tarballs")
main_tgz=$(sed -n 2p "$work/tarballs")

project=$work/project
mkdir -p "$project/tools"
cat >"$project/package.json" <<'EOF'
{ "name": "compozy-smoke", "private": true }
EOF
cat >"$project/compozy.yaml" <<'EOF'
tools:
  - id: greet
    description: Greets someone
    execute: ./tools/greet.ts
    input: { type: object, properties: { name: { type: string } }, required: [name] }
EOF
cat >"$project/tools/greet.ts" <<'EOF'
export function run(input: { name: string }): { greeting: string } {
  return { greeting: `hello ${input.name}` };
}
EOF

# Offline and hermetic: a cache of our own (empty: every package comes from a tarball), no
# install by npx, no audit or update check.
export npm_config_cache="$work/npm-cache" npm_config_offline=true npm_config_yes=false \
  npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# Both tarballs in one install: the platform package becomes a dependency of the project, placed
# at node_modules/@compozy/PLATFORM, where it satisfies compozy's optional dependency on the same
# name and version, so npm never asks the registry for it.
cd "$project"
$bounded npm install --offline --no-audit --no-fund -D "$platform_tgz" "$main_tgz"

same() {
  got=$1
  want=$2
  [ "$got" = "$want" ] || die "expected $want, got $got"
}
# The tools run on the pinned runtimes; a user's project would have them in its own
# node_modules/.bin or on PATH.
export COMPOZY_BUN="$pinned/bun" COMPOZY_NODE="$pinned/node"

$bounded npx compozy gen
[ -f .compozy/tools.ts ] || die "npx compozy gen wrote no .compozy/tools.ts"
same "$($bounded npx compozy exec greet --runtime node --input '{"name":"npx"}')" \
  '{"greeting":"hello npx"}'

rm -rf .compozy
$bounded "$pinned/bunx" --no-install compozy gen
[ -f .compozy/tools.ts ] || die "bunx compozy gen wrote no .compozy/tools.ts"
same "$($bounded "$pinned/bunx" --no-install compozy exec greet --runtime bun --input '{"name":"bunx"}')" \
  '{"greeting":"hello bunx"}'

echo "npm/smoke.sh: ok ($(basename "$platform_tgz"), $(basename "$main_tgz"))"
