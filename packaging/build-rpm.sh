#!/bin/bash
# Builds the RPM of zaaklink from its release tarball with rpmbuild -bb and
# packaging/rpm/zaaklink.spec (taken from the tarball). The .rpm ends up in
# OUTDIR (default _build/packages of the checkout); the last line printed
# is its path. Arguments after -- go to rpmbuild.
#
#   packaging/build-rpm.sh [--tarball FILE] [--outdir DIR] [-- RPMBUILD-ARGS]
#
# Without --tarball it makes one first (packaging/dist.sh). Where the rpm
# database knows no packages (rpm on Debian), the BuildRequires cannot be
# checked and --nodeps is added; the build still needs the dependencies,
# as Debian packages.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tarball='' outdir=$root/_build/packages
extra=()
while [ $# -gt 0 ]; do
	case $1 in
	--tarball) tarball=${2:?--tarball needs a file}; shift ;;
	--outdir) outdir=${2:?--outdir needs a directory}; shift ;;
	--) shift; extra=("$@"); break ;;
	-h | --help) sed -n '2,/^set -eu/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
	*) echo "build-rpm.sh: unknown option '$1' (see --help)" >&2; exit 64 ;;
	esac
	shift
done

work=$(mktemp -d "${TMPDIR:-/tmp}/zaaklink-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
[ -n "$tarball" ] || tarball=$("$root/packaging/dist.sh" "$work/dist")
base=$(basename "$tarball" .tar.gz)

top=$work/rpmbuild
mkdir -p "$top/SOURCES" "$top/SPECS"
cp "$tarball" "$top/SOURCES/"
tar -xzf "$tarball" -C "$work" "$base/packaging/rpm/zaaklink.spec" "$base/packaging/zaaklink.sysusers"
cp "$work/$base/packaging/rpm/zaaklink.spec" "$top/SPECS/"
cp "$work/$base/packaging/zaaklink.sysusers" "$top/SOURCES/"

if ! rpm -q rpm >/dev/null 2>&1 && ! printf '%s\n' "${extra[@]}" | grep -qx -- --nodeps; then
	echo "build-rpm.sh: the rpm database is empty (not an RPM system): adding --nodeps" >&2
	extra+=(--nodeps)
fi
rpmbuild -bb --define "_topdir $top" "${extra[@]}" "$top/SPECS/zaaklink.spec"

mkdir -p "$outdir"
rpms=()
for f in "$top"/RPMS/*/*.rpm; do
	[ -e "$f" ] || continue
	mv -f "$f" "$outdir/"
	rpms+=("$outdir/$(basename "$f")")
done
[ ${#rpms[@]} -gt 0 ] || { echo "build-rpm.sh: no .rpm was built" >&2; exit 1; }
printf '%s\n' "${rpms[@]}"
