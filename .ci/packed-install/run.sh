#!/usr/bin/env bash
# PSI as a user installs it: pack the built packages (npm pack), install the tarballs into an empty
# project outside the repository, compile the README's adapter with the project's own TypeScript,
# and run its unit test (testing kit) and a coordinator on SQLite with Node's test runner.
# No workspace links, no source mapping, none of the repository's devDependencies.
# Prints "packed-install: N passed, N failed" last; exits non-zero when anything failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/psi-packed-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "packed-install: $*" >&2; echo "packed-install: 0 passed, 1 failed"; exit 1; }

mkdir -p "$work/tarballs" "$work/project"
for pkg in core registry adapters engines; do
  (cd "$root/packages/$pkg" && npm pack --silent --pack-destination "$work/tarballs" >/dev/null) \
    || fail "npm pack packages/$pkg"
done
cp -r "$here/project/." "$work/project/"
cd "$work/project" || fail "no project folder"
tarballs=$(ls "$work"/tarballs/*.tgz)
# Like a user's package.json: the packages, the validators their DTOs use, and approval for
# sqlite3's install script (npm 11 skips unapproved ones).
cat > package.json <<JSON
{ "name": "psi-packed-install-check", "private": true, "version": "1.0.0",
  "allowScripts": { "sqlite3": true } }
JSON
# shellcheck disable=SC2086
npm install --no-audit --no-fund --loglevel=error $tarballs \
  class-validator@^0.15.1 reflect-metadata@^0.2.2 typescript@5.9.3 @types/node@^20 \
  || fail "npm install of the packed tarballs"
npx --no-install tsc -p tsconfig.json || fail "tsc against the installed packages' types"
node --test --test-reporter=tap dist/ > "$work/tap.txt" 2>&1
status=$?
cat "$work/tap.txt"
passed=$(grep -E '^# pass [0-9]+' "$work/tap.txt" | grep -oE '[0-9]+' || echo 0)
failed=$(grep -E '^# fail [0-9]+' "$work/tap.txt" | grep -oE '[0-9]+' || echo 1)
echo "packed-install: ${passed} passed, ${failed} failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
