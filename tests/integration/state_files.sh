#!/bin/bash
# The state file and its lock file must be zaaklink's own: a state path or
# lock file that is a symbolic link, or a state file of another user, is
# refused with one line naming the file (exit 73), and the file a link
# points to is left exactly as it was. Giving a file to another user needs
# root; without it that case is skipped.
. "$(dirname "$0")/../lib.sh"
zl_servers_up

zl_fixture_new
dir=$ZL_TMP/state
mkdir -p "$dir"
state=$dir/state.db
conf=$ZL_TMP/zaaklink.conf
zl_conf "$conf" "$db" "$state" "$ex"

# fingerprint FILE: size and checksum, to see that nothing wrote to it.
fingerprint() {
	echo "$(stat -c %s "$1") $(sha256sum <"$1")"
}
# once_err: runs one pass; its exit status in $rc, stderr in $out.
once_err() {
	rc=0
	out=$(zl_zl -c "$conf" once 2>&1 >/dev/null) || rc=$?
}

# ---- the state path is a symbolic link ----
real=$dir/real.db
zl_conf "$ZL_TMP/real.conf" "$db" "$real" "$ex"
rc=0; zl_once "$ZL_TMP/real.conf" || rc=$?
is "$rc" 0 "a first pass makes a state file"
before=$(fingerprint "$real")
ln -s "$real" "$state"
once_err
is "$rc" 73 "state path a symbolic link: once exits 73"
is "$out" "zaaklink: state file $state is a symbolic link: refusing to follow it" \
	"... with one line naming the file"
is "$(fingerprint "$real")" "$before" "... and the file it points to is untouched"
rc=0; out=$(zl_zl -c "$conf" status --no-broker 2>&1 >/dev/null) || rc=$?
is "$rc/$out" "73/zaaklink: state file $state is a symbolic link: refusing to follow it" \
	"status refuses it too"
rm -f "$state" "$state.lock"

# ---- the lock file is a symbolic link ----
victim=$ZL_TMP/victim
printf 'not zaaklink'"'"'s\n' >"$victim"
before=$(fingerprint "$victim")
ln -s "$victim" "$state.lock"
once_err
is "$rc" 73 "lock file a symbolic link: once exits 73"
is "$out" "zaaklink: lock file $state.lock is a symbolic link: refusing to follow it" \
	"... with one line naming the file"
is "$(fingerprint "$victim")" "$before" "... and the file it points to keeps its content and size"
ok "... and no state file is made" test ! -e "$state"
rm -f "$state.lock"

# A dangling link is not followed to create a file either.
ln -s "$ZL_TMP/elsewhere" "$state.lock"
once_err
is "$rc" 73 "lock file a dangling symbolic link: once exits 73"
ok "... and creates nothing where it points" test ! -e "$ZL_TMP/elsewhere"
rm -f "$state.lock"

# ---- the state file belongs to another user ----
rc=0; zl_once "$conf" || rc=$?
is "$rc" 0 "a pass on a state file of our own"
if [ "$(id -u)" = 0 ]; then
	me=$(id -un)
	other=$(getent passwd 65534 | cut -d: -f1)
	before=$(fingerprint "$state")
	chown 65534 "$state"
	once_err
	is "$rc" 73 "state file of another user: once exits 73"
	is "$out" "zaaklink: state file $state belongs to ${other:-uid 65534}, not to $me who runs zaaklink: refusing to use it (run zaaklink as its owner)" \
		"... with one line naming the file and both users"
	is "$(fingerprint "$state")" "$before" "... and the file is untouched"
	chown 0 "$state"
	rc=0; zl_once "$conf" || rc=$?
	is "$rc" 0 "given back: the pass runs again"
else
	skip 4 "giving a file to another user needs root"
fi

# ---- a monitoring user reads the state without owning it ----
# status needs read access only: the directory and file readable, nothing
# writable (zaaklink(8)); setup and dlq do not touch the state at all.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	install -m 755 "$ZL_BIN" "$ZL_TMP/zaaklink"
	chmod 644 "$conf" "$state"
	chmod 755 "$dir"
	before=$(fingerprint "$state")
	rc=0; out=$(runuser -u nobody -- "$ZL_TMP/zaaklink" -c "$conf" status --json --no-broker \
		2>"$ZL_TMP/nobody.err") || rc=$?
	is "$rc" 0 "status as a user who may only read the state: exit 0 ($(grep -v level= "$ZL_TMP/nobody.err"))"
	is "$(jq -r '.links' <<<"$out")" "$(zl_status_json "$conf" | jq -r '.links')" \
		"... and it reads the same links as the owner"
	is "$(fingerprint "$state")" "$before" "... and writes nothing"
	rc=0; runuser -u nobody -- "$ZL_TMP/zaaklink" -c "$conf" once >/dev/null 2>&1 || rc=$?
	is "$rc" 78 "once as that user: exit 78, it needs to write"
	chmod 600 "$conf"
else
	skip 4 "running zaaklink as another user needs root and the user nobody"
fi

done_testing
