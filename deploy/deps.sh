#!/usr/bin/env bash
# Installs what Wattle needs to build, run and be tested on Debian 12 (as root, or with sudo).
# Only installs what is missing, so it is quick when everything is already there.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libh2o-evloop-dev libssl-dev libjansson-dev liblmdb-dev
      lmdb-utils libjwt-dev libcurl4-openssl-dev curl)
[ "${1:-}" = "--test" ] && pkgs+=(libcriterion-dev python3 nodejs npm nginx-light openssl wrk chromium
                                   python3-requests-oauthlib)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node, npm and python3 may come from elsewhere (nvm, pyenv): a working command is enough.
keep=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs|npm) command -v node >/dev/null && command -v npm >/dev/null && continue ;;
    python3) command -v python3 >/dev/null && continue ;;
  esac
  keep+=("$p")
done
missing=("${keep[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
