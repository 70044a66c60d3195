#!/bin/bash
# The life of the Debian package on this machine: install, what the
# installed files are and do, upgrade to a higher version, remove, purge.
# The higher version is this .deb repacked with a bigger Debian revision,
# which is what an upgrade exercises: the maintainer scripts and dpkg's
# handling of the conffile and of the state directory. TAP output; exit
# status 1 when a test failed.
#
#   packaging/tests/deb-lifecycle.sh PATH/TO/zaaklink_VERSION_ARCH.deb
#
# Needs root (dpkg), and refuses to touch a zaaklink that is already
# installed. It purges the package on exit, whatever happens; the system
# user zaaklink stays, as it would after any purge.
set -uo pipefail

deb=${1:?usage: deb-lifecycle.sh PACKAGE.deb}
conf=/etc/zaaklink/zaaklink.conf
state=/var/lib/zaaklink
unit_dirs=(/lib/systemd/system /usr/lib/systemd/system)

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root to install packages"
	exit 0
fi
if dpkg-query -W -f='${db:Status-Abbrev}' zaaklink 2>/dev/null | grep -q '^.[^n]'; then
	echo "1..0 # SKIP zaaklink is installed here already; not touching it"
	exit 0
fi

tmp=$(mktemp -d /tmp/zl-deb.XXXXXX) || exit 1
cleanup() {
	dpkg --purge zaaklink >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

n=0 failed=0
# check NAME COMMAND...: one test; the command's output is shown on failure.
check() {
	local name=$1 out
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n - $name"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name"
		[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
	fi
}
# stat_is PATH MODE USER GROUP
stat_is() {
	local got
	got=$(stat -c '%a %U %G' "$1") || return 1
	[ "$got" = "$2 $3 $4" ] || { echo "$1: $got, expected $2 $3 $4"; return 1; }
}
unit() {
	local d
	for d in "${unit_dirs[@]}"; do
		[ -f "$d/zaaklink.service" ] && { echo "$d/zaaklink.service"; return 0; }
	done
	return 1
}
# Prints nothing and succeeds when systemd-analyze verify has nothing to say.
verify_quiet() {
	local out
	out=$(systemd-analyze verify "$(unit)" 2>&1)
	[ -z "$out" ] || { echo "$out"; return 1; }
}
# The exposure score of the unit (systemd-analyze security), or nothing.
exposure() {
	systemd-analyze security --offline=true "$(unit)" 2>&1 |
		sed -n 's/.*Overall exposure level for zaaklink.service: \([0-9.]*\).*/\1/p'
}
at_most_2() {
	[ -n "$1" ] && awk -v s="$1" 'BEGIN { exit !(s <= 2.0) }'
}
man_clean() {
	local page out
	for page in /usr/share/man/man8/zaaklink.8.gz /usr/share/man/man5/zaaklink.conf.5.gz; do
		[ -f "$page" ] || { echo "$page is missing"; return 1; }
		out=$(zcat "$page" | LC_ALL=C.UTF-8 groff -ww -man -Tutf8 -z 2>&1)
		[ -z "$out" ] || { echo "$page: $out"; return 1; }
	done
}
docs_present() {
	local f
	for f in README.md.gz changelog.Debian.gz copyright; do
		[ -f "/usr/share/doc/zaaklink/$f" ] || { echo "/usr/share/doc/zaaklink/$f is missing"; return 1; }
	done
}
not_enabled() {
	local link
	for link in /etc/systemd/system/*.wants/zaaklink.service; do
		[ -e "$link" ] || [ -L "$link" ] && { echo "enabled: $link"; return 1; }
	done
	return 0
}
is_conffile() {
	dpkg-query -W -f='${Conffiles}\n' zaaklink | grep -q "^ $conf "
}
system_user() {
	local uid shell
	uid=$(id -u zaaklink) && shell=$(getent passwd zaaklink | cut -d: -f7) || return 1
	[ "$uid" -lt 1000 ] && case $shell in */nologin | */false) true ;; *) false ;; esac ||
		{ echo "zaaklink: uid $uid, shell $shell"; return 1; }
}

upstream=$(dpkg-deb -f "$deb" Version)
upstream=${upstream%-*}

echo "1..22"
check "dpkg -i installs the package" dpkg -i "$deb"
check "the system user zaaklink exists, without a login shell" system_user
check "$conf is a conffile" is_conffile
check "$conf is 0640 root:zaaklink" stat_is "$conf" 640 root zaaklink
check "$state is 0750 zaaklink:zaaklink" stat_is "$state" 750 zaaklink zaaklink
check "the service is not enabled on install" not_enabled
check "zaaklink --version says $upstream" sh -c "zaaklink --version | grep -qx 'zaaklink $upstream'"
check "check-config accepts the packaged configuration" zaaklink -c "$conf" check-config
check "check-config works as the user zaaklink (reads the file, writes the state dir)" \
	runuser -u zaaklink -- zaaklink -c "$conf" check-config
check "systemd-analyze verify has nothing to say about the unit" verify_quiet
score=$(exposure)
check "systemd-analyze security: exposure ${score:-unknown}, at most 2.0" at_most_2 "$score"
check "man pages zaaklink(8), zaaklink.conf(5) format without warnings" man_clean
check "README, changelog and copyright in /usr/share/doc/zaaklink" docs_present

# An upgrade keeps the administrator's edit, the file's mode and the state.
echo "# local edit" >>"$conf"
runuser -u zaaklink -- touch "$state/state.db"
mkdir -p "$tmp/pkg"
dpkg-deb -R "$deb" "$tmp/pkg"
sed -i "s/^Version: .*/&+upgradetest1/" "$tmp/pkg/DEBIAN/control"
dpkg-deb -b "$tmp/pkg" "$tmp/zaaklink-next.deb" >/dev/null
check "dpkg -i upgrades to a higher version" dpkg -i "$tmp/zaaklink-next.deb"
check "the upgrade installed the higher version" sh -c "dpkg-query -W -f='\${Version}' zaaklink | grep -q '+upgradetest1\$'"
check "the upgrade kept the edited configuration" grep -qx "# local edit" "$conf"
check "the upgrade kept $conf 0640 root:zaaklink" stat_is "$conf" 640 root zaaklink
check "the upgrade kept the state file" test -f "$state/state.db"

check "dpkg -r removes the package" dpkg -r zaaklink
check "remove keeps $state and its state file" test -f "$state/state.db"
check "dpkg -P purges the package" dpkg -P zaaklink
check "purge deletes $state and $conf" sh -c "! test -e '$state' && ! test -e '$conf'"
[ "$failed" -eq 0 ]
