#!/usr/bin/env bash
# Measurement only (issue 19): installs Debian's chromium the way a test setup would, and prints
# how long it took. The browser tests use the Chromium shipped in the npm package
# @sparticuz/chromium instead (test/console/chromium.ts); this script is kept
# so the comparison can be repeated.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(command -v chromium)"
  exit 0
fi
start=$(date +%s.%N)
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
end=$(date +%s.%N)
echo "installed $(chromium --version) in $(echo "$end - $start" | bc) s"
