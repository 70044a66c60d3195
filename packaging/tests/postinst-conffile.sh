#!/bin/bash
# The Debian postinst's care of the conffile, without installing anything:
# the script runs on a copy of its paths under a scratch directory, with
# the group zaaklink replaced by the group daemon (this machine need not
# have a user zaaklink). A regular conffile becomes 0640 root:zaaklink; a
# conffile replaced by a symbolic link is left alone, and so is the file
# it points to. TAP output; needs root (chown).
#
#   packaging/tests/postinst-conffile.sh
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
postinst=$here/../debian/postinst

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root to give files away"
	exit 0
fi
group=daemon
getent group "$group" >/dev/null || { echo "1..0 # SKIP no group $group here"; exit 0; }

tmp=$(mktemp -d /tmp/zl-postinst.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/etc/zaaklink" "$tmp/var/lib/zaaklink"
sed -e "s|/etc/zaaklink|$tmp/etc/zaaklink|g" -e "s|/var/lib/zaaklink|$tmp/var/lib/zaaklink|g" \
	-e "s|root:zaaklink|root:$group|g" "$postinst" >"$tmp/postinst"
grep -q "$tmp/etc/zaaklink/zaaklink.conf" "$tmp/postinst" || { echo "Bail out! postinst names no conffile"; exit 1; }
conf=$tmp/etc/zaaklink/zaaklink.conf

n=0 failed=0
# is GOT EXPECTED NAME
is() {
	n=$((n + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $n - $3"
	else
		failed=$((failed + 1))
		echo "not ok $n - $3"
		echo "#      got: '$1'"
		echo "# expected: '$2'"
	fi
}
# run_postinst: runs it as dpkg would after unpacking; exit status in $rc, stderr in $err.
run_postinst() {
	rc=0
	err=$(sh "$tmp/postinst" configure 2>&1 >/dev/null) || rc=$?
}

echo "1..7"

# A regular conffile is given its owner and mode.
echo "# zaaklink.conf" >"$conf"
chown 65534:65534 "$conf"
chmod 0644 "$conf"
run_postinst
is "$rc" 0 "a regular conffile: postinst succeeds"
is "$(stat -c '%a %U %G' "$conf")" "640 root $group" "... and makes it 0640 root:zaaklink"

# A conffile that is a symbolic link: neither it nor its target is changed.
rm -f "$conf"
victim=$tmp/victim
echo "secret = elsewhere" >"$victim"
chown 65534:65534 "$victim"
chmod 0644 "$victim"
ln -s "$victim" "$conf"
run_postinst
is "$rc" 0 "a conffile that is a symbolic link: postinst succeeds"
is "$(stat -c '%a %u %g' "$victim")" "644 65534 65534" "... and leaves the owner and mode of its target alone"
is "$(stat -c '%U %G' "$conf")" "root root" "... and of the link itself"
is "$(readlink "$conf")" "$victim" "... which still points where it did"
is "$err" "zaaklink: $conf is a symbolic link: leaving the owner and mode of what it points to alone" \
	"... and says so"

[ "$failed" -eq 0 ]
