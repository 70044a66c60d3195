#!/bin/bash
# The RPM holds what the .deb holds, with the same owners and modes where
# they matter: the binary, the configuration (a noreplace config file,
# 0640 root:zaaklink), the unit, the sysusers.d file, the state directory
# (0750 zaaklink:zaaklink), the man pages and the README. Reads both
# packages without installing anything. TAP output; exit status 1 when a
# test failed.
#
#   packaging/tests/rpm-contents.sh PACKAGE.rpm PACKAGE.deb
set -uo pipefail

rpm_file=${1:?usage: rpm-contents.sh PACKAGE.rpm PACKAGE.deb}
deb_file=${2:?usage: rpm-contents.sh PACKAGE.rpm PACKAGE.deb}

# "mode user:group flags path" per file of the RPM.
rpm_list=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags}. %{FILENAMES}\n]' \
	"$rpm_file" 2>/dev/null) || { echo "1..0 # SKIP cannot read $rpm_file"; exit 1; }
# Paths of the .deb, without the leading "." and without directories.
deb_list=$(dpkg-deb -c "$deb_file" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }')

n=0 failed=0
result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else failed=$((failed + 1)); echo "not ok $n - $2"; fi
}
# rpm_has REGEXP NAME: a line of the RPM's list matches.
rpm_has() {
	printf '%s\n' "$rpm_list" | grep -Eq -- "$1"
	result $? "$2"
}

echo "1..9"
rpm_has '^-rwxr-xr-x root:root \. /usr/bin/zaaklink$' "/usr/bin/zaaklink"
rpm_has '^-rw-r----- root:zaaklink cn\. /etc/zaaklink/zaaklink\.conf$' \
	"/etc/zaaklink/zaaklink.conf: %config(noreplace), 0640 root:zaaklink"
rpm_has ' /usr/lib/systemd/system/zaaklink\.service$' "the systemd unit"
rpm_has ' /usr/lib/sysusers\.d/zaaklink\.conf$' "the sysusers.d file"
rpm_has '^drwxr-x--- zaaklink:zaaklink \. /var/lib/zaaklink$' "/var/lib/zaaklink, 0750 zaaklink:zaaklink"
rpm_has ' /usr/share/man/man8/zaaklink\.8(\.gz|\.bz2|\.xz)?$' "zaaklink(8)"
rpm_has ' /usr/share/man/man5/zaaklink\.conf\.5(\.gz|\.bz2|\.xz)?$' "zaaklink.conf(5)"
rpm_has ' /usr/share/doc/zaaklink/README\.md$' "README.md in /usr/share/doc/zaaklink"

# Every file of the .deb is in the RPM, but for what differs by design:
# Debian's changelog, copyright and lintian overrides (the RPM has its
# %changelog), compression, and bookworm's /lib/systemd/system for
# /usr/lib/systemd/system.
missing=()
while IFS= read -r path; do
	case $path in
	/usr/share/doc/zaaklink/changelog.Debian.gz | /usr/share/doc/zaaklink/copyright | \
		/usr/share/lintian/*) continue ;;
	/lib/systemd/system/*) path=/usr$path ;;
	esac
	path=${path%.gz}
	printf '%s\n' "$rpm_list" | grep -Eq -- " ${path//./\\.}(\\.gz|\\.bz2|\\.xz)?\$" || missing+=("$path")
done <<<"$deb_list"
result "${#missing[@]}" "every other file of the .deb is in the RPM"
[ ${#missing[@]} -eq 0 ] || printf '# missing from the RPM: %s\n' "${missing[@]}"
[ "$failed" -eq 0 ]
