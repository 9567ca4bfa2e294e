#!/usr/bin/env bash
# Builds Debian's CAF 0.17.6 (the upstream source of the Debian package,
# with Debian's one header fix) instrumented with ThreadSanitizer into DIR,
# for `make tsan`: the test binaries are compiled against the installed
# headers and, run with LD_LIBRARY_PATH=DIR/lib, load these libraries
# instead of the packaged ones (same version, same build configuration, so
# the same ABI). Without them TSan cannot see the synchronisation inside
# CAF (its mailboxes and scheduler queues): every message handed from one
# thread to another is reported as a race.
#
# usage: scripts/caf-tsan.sh DIR     (does nothing when DIR/lib is built)
set -euo pipefail

dir=${1:?usage: caf-tsan.sh DIR}
version=0.17.6
sha256=e2bf5bd243f08bb7d8adde197cfe3e6d71314ed3378fe0692f8932f4c3b3928c
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
lib="$dir/lib"
if [ -e "$lib/libcaf_core.so.$version" ] && [ -e "$lib/libcaf_io.so.$version" ]; then
  exit 0
fi
mkdir -p "$dir"
tarball="$dir/actor-framework_$version.orig.tar.gz"
if [ ! -s "$tarball" ]; then
  curl -fsSL -o "$tarball.part" \
    "$mirror/pool/main/a/actor-framework/actor-framework_$version.orig.tar.gz"
  mv "$tarball.part" "$tarball"
fi
echo "$sha256  $tarball" | sha256sum -c --quiet -
rm -rf "$dir/src" "$dir/build"
mkdir -p "$dir/src" "$dir/build"
tar -xzf "$tarball" -C "$dir/src" --strip-components=1
# Debian's fix for GCC 12 (the installed header has it too).
sed -i 's|^#include <memory>|#include <limits>\n#include <memory>|' \
  "$dir/src/libcaf_io/caf/io/network/receive_buffer.hpp"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$dir/src" -B "$dir/build" "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
  -DCAF_LOG_LEVEL=QUIET -DCAF_NO_EXAMPLES=ON -DCAF_NO_UNIT_TESTS=ON \
  -DCAF_NO_TOOLS=ON -DCAF_NO_PYTHON=ON -DCAF_NO_OPENCL=ON -DCAF_NO_SUMMARY=ON \
  >"$dir/configure.log"
cmake --build "$dir/build" -j"${JOBS:-2}" >"$dir/build.log" 2>&1
mkdir -p "$lib"
find "$dir/build" -name "libcaf_*.so.$version" -exec cp {} "$lib/" \;
for name in core io openssl; do
  [ -e "$lib/libcaf_$name.so.$version" ] || {
    echo "caf-tsan.sh: libcaf_$name.so.$version was not built" >&2
    exit 1
  }
done
echo "CAF $version with ThreadSanitizer in $lib"
