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
# Like a user's package.json: the packages and the validators their DTOs use.
cat > package.json <<JSON
{ "name": "psi-packed-install-check", "private": true, "version": "1.0.0" }
JSON
# Install scripts are skipped: the only one is sqlite3's, which compiles SQLite from source for
# about a minute and a half of CPU that CI's tests, running beside this check, need. Its binary is
# taken from the repository's own install when the versions match (the same compile, which
# `npm ci` has just proved); otherwise it is built here as a user's install would.
# shellcheck disable=SC2086
npm install --no-audit --no-fund --loglevel=error --ignore-scripts $tarballs \
  class-validator@^0.15.1 reflect-metadata@^0.2.2 typescript@5.9.3 @types/node@^20 \
  || fail "npm install of the packed tarballs"
version_of() { node -p "require('$1/package.json').version" 2>/dev/null; }
if [ -f "$root/node_modules/sqlite3/build/Release/node_sqlite3.node" ] &&
  [ "$(version_of "$root/node_modules/sqlite3")" = "$(version_of "$PWD/node_modules/sqlite3")" ]; then
  cp -r "$root/node_modules/sqlite3/build" node_modules/sqlite3/build || fail "copy sqlite3's binary"
  echo "packed-install: sqlite3 $(version_of "$PWD/node_modules/sqlite3"): binary of the repository's install"
else
  npm rebuild --no-audit --no-fund --loglevel=error sqlite3 || fail "build sqlite3"
fi
echo "packed-install: installed at ${SECONDS}s"
npx --no-install tsc -p tsconfig.json || fail "tsc against the installed packages' types"
echo "packed-install: compiled at ${SECONDS}s"
node --test --test-reporter=tap dist/ > "$work/tap.txt" 2>&1
status=$?
cat "$work/tap.txt"
passed=$(grep -E '^# pass [0-9]+' "$work/tap.txt" | grep -oE '[0-9]+' || echo 0)
failed=$(grep -E '^# fail [0-9]+' "$work/tap.txt" | grep -oE '[0-9]+' || echo 1)
echo "packed-install: ${passed} passed, ${failed} failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
