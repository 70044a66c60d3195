#!/bin/bash
# Builds the Debian package of zaaklink from its release tarball, with
# dpkg-buildpackage -us -uc -b and packaging/debian as debian/. The .deb,
# .changes and .buildinfo end up in OUTDIR (default _build/packages of the
# checkout); the last line printed is the path of the .deb (the one before
# it, that of the -dbgsym package with the debugging symbols).
#
#   packaging/build-deb.sh [--tarball FILE] [--outdir DIR]
#
# Without --tarball it makes one first (packaging/dist.sh). The build
# dependencies are those of packaging/debian/control; dpkg-buildpackage
# names any that is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tarball='' outdir=$root/_build/packages
while [ $# -gt 0 ]; do
	case $1 in
	--tarball) tarball=${2:?--tarball needs a file}; shift ;;
	--outdir) outdir=${2:?--outdir needs a directory}; shift ;;
	-h | --help) sed -n '2,/^set -eu/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
	*) echo "build-deb.sh: unknown option '$1' (see --help)" >&2; exit 64 ;;
	esac
	shift
done

work=$(mktemp -d "${TMPDIR:-/tmp}/zaaklink-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
[ -n "$tarball" ] || tarball=$("$root/packaging/dist.sh" "$work/dist")
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
base=$(basename "$tarball" .tar.gz)
version=${base#zaaklink-}

tar -xzf "$tarball" -C "$work"
src=$work/$base
changelog_version=$(sed -n '1s/^zaaklink (\([^-)]*\)-[^)]*).*/\1/p' "$src/packaging/debian/changelog")
if [ "$changelog_version" != "$version" ]; then
	echo "build-deb.sh: $tarball is version $version, but packaging/debian/changelog" \
		"is for $changelog_version" >&2
	exit 1
fi
cp -a "$src/packaging/debian" "$src/debian"
# The upstream tarball under Debian's name, for a later source build.
ln -s "$tarball" "$work/zaaklink_$version.orig.tar.gz"

(cd "$src" && dpkg-buildpackage -us -uc -b)

mkdir -p "$outdir"
deb='' dbgsym=''
for f in "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo; do
	[ -e "$f" ] || continue
	mv -f "$f" "$outdir/"
	case $f in
	*-dbgsym_*.deb) dbgsym=$outdir/$(basename "$f") ;;
	*.deb) deb=$outdir/$(basename "$f") ;;
	esac
done
[ -n "$deb" ] || { echo "build-deb.sh: no .deb was built" >&2; exit 1; }
[ -z "$dbgsym" ] || echo "$dbgsym"
echo "$deb"
