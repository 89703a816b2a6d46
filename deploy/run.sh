#!/usr/bin/env bash
# The README's first command: installs what is missing, builds a release binary and runs
# `wattle serve` on its embedded defaults (http://127.0.0.1:8400, data in ./wattle-data).
# Extra arguments go to `wattle serve` (for example --listen 127.0.0.1:9000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/deps.sh"
cmake -S "$root" -B "$root/build/release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build/release" -j"$(nproc)" --target wattle >/dev/null
cat >&2 <<MSG

Wattle is starting. Next, in another terminal (from $(pwd)):
  $root/build/release/wattle user add alice --password-stdin <<< 'a-long-password'
  $root/build/release/wattle client add --name "My app" --redirect-uri http://127.0.0.1:3000/callback
Then send a browser to the issuer's /oauth/authorize (docs/quickstart.md walks through it).
Stop the server with Ctrl-C.

MSG
exec "$root/build/release/wattle" serve "$@"
