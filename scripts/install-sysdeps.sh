#!/usr/bin/env bash
# Install the Debian packages adatune needs, only those that are missing.
# Run as root (CI and the dev machines are root); otherwise it prints what to install.
set -euo pipefail
need=()
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "adatune: please install these Debian packages: ${need[*]}" >&2
  exit 1
fi
echo "adatune: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
