#!/bin/sh
# Compiles mock-broker.c (needs a C compiler and librdkafka-dev) into a git-ignored cache,
# keyed by the source's hash like test/kafka/mock-broker.ts does, and prints the binary's path.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
hash=$(sha256sum "$here/mock-broker.c" | cut -c1-16)
dir="$root/node_modules/.cache/psi-kafka-mock"
bin="$dir/mock-broker-$hash"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  cc -O2 -o "$bin.$$.tmp" "$here/mock-broker.c" -lrdkafka
  mv "$bin.$$.tmp" "$bin"
fi
echo "$bin"
