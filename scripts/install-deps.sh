#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking mmsb needs.
# Idempotent: packages already present are skipped, so `make demo` and `make test` stay fast.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ccache
  libxxhash-dev libsodium-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  clang libclang-rt-14-dev librocksdb-dev libconcurrentqueue-dev
  liburing-dev prometheus
  python3-dev pybind11-dev python3-pytest python3-numpy python3-pip python3-setuptools python3-venv
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
