#!/usr/bin/env bash
# Installs the Debian 12 packages the build and the tests need, when missing.
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config git
  libcaf-dev libssl-dev openssl
  libmsgpack-cxx-dev nlohmann-json3-dev libyaml-cpp-dev
  libspdlog-dev libfmt-dev libcli11-dev
  libboost-test-dev libjemalloc-dev
  libcurl4-openssl-dev libevent-dev
  libhiredis-dev redis-server
  libnats-dev nats-server python3
  libcpp-httplib-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  python3-grpcio python3-protobuf python3-cryptography grpc-proto
  clang libclang-rt-14-dev
)

# Node.js and npm check the Helm chart; a machine may have them already
# from elsewhere, so Debian's are installed only when there are none.
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null; then
  sudo="sudo"
else
  echo "install-deps: missing packages and not root: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
