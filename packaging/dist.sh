#!/bin/bash
# Makes the release tarball (make dist) of the checkout this script is in,
# configured out of tree in DIR, and prints the tarball's path. Used by
# build-deb.sh and build-rpm.sh; needs the build dependencies, as configure
# checks for them.
#
#   packaging/dist.sh DIR
set -euo pipefail

dir=${1:?usage: dist.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -x "$root/configure" ]; then
	(cd "$root" && ./autogen.sh) >&2
fi
mkdir -p "$dir"
cd "$dir"
"$root/configure" -q >&2
make -s dist >&2
version=$(sed -n 's/^PACKAGE_VERSION = //p' Makefile)
echo "$dir/zaaklink-$version.tar.gz"
