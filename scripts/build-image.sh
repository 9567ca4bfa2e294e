#!/usr/bin/env bash
# Builds the orchestrator image where no registry can be reached:
#
#   scripts/build-image.sh [TAG]        (default localhost/orchestrator:dev)
#
# 1. A Debian 12 base image from this machine's apt mirror (mmdebstrap,
#    minbase, no docs or locales), imported with `podman import` as
#    localhost/debian:bookworm-slim (once; kept afterwards).
# 2. `podman build` of docker/Containerfile on that base.
# Needs root, podman, mmdebstrap and runc (Debian packages).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-localhost/orchestrator:dev}
base=${BASE_IMAGE:-localhost/debian:bookworm-slim}
work=${BUILD_DIR:-$root/build}/image
mkdir -p "$work"
work=$(cd "$work" && pwd)
for tool in podman mmdebstrap runc; do
  if ! command -v "$tool" > /dev/null; then
    echo "build-image: installing podman mmdebstrap runc"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman mmdebstrap runc
    break
  fi
done
# This sandbox needs runc and explicit ulimits (DEPLOY-NOTES.md).
cat > "$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF=$work/containers.conf

if ! podman image exists "$base"; then
  # "deb URI SUITE main" for every suite of the machine's apt sources.
  mapfile -t mirrors < <(
    {
      cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true
      echo
    } | awk '
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) suites[++n] = $i }
      /^$/ { if (uri != "") for (i = 1; i <= n; i++) print "deb " uri " " suites[i] " main"; uri = ""; n = 0 }'
    grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $1" "$2" "$3" main"}' || true
  )
  if [ ${#mirrors[@]} -eq 0 ]; then
    echo "build-image: no apt sources found" >&2
    exit 1
  fi
  t0=$(date +%s)
  mmdebstrap --variant=minbase --mode=root \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$work/base.tar" "${mirrors[@]}"
  podman import --change 'CMD ["/bin/bash"]' "$work/base.tar" "$base"
  rm -f "$work/base.tar"
  echo "build-image: base $base made in $(( $(date +%s) - t0 )) s"
fi

t0=$(date +%s)
podman build --build-arg BASE="$base" -t "$tag" -f "$root/docker/Containerfile" "$root"
size=$(podman image inspect "$tag" --format '{{.Size}}')
echo "build-image: $tag built in $(( $(date +%s) - t0 )) s, $(( size / 1024 / 1024 )) MiB"
