#!/bin/bash
# Fault 5, the local disk: the state file's directory turned read-only,
# the disk full (a small tmpfs), the file size limit (RLIMIT_FSIZE) hit,
# and the state file corrupted. Each time zaaklink must fail with one
# clear line naming the file and the cause, leave the file intact
# (sqlite3 integrity_check), and lose nothing: once the disk is back, every
# change made meanwhile is published. Mounting needs root; without it the
# tmpfs cases are skipped.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools sqlite3
zl_servers_up

zl_fixture_new
kc=$(zl_kc "$db" "Schijf")
add_links() { # N: adds N links, their zaak ids to $ids
	local i z
	for ((i = 0; i < $1; i++)); do
		z=$(zl_uuid)
		zl_ow "$db" "$kc" "$z" >/dev/null && echo "$z" >>"$ids"
	done
}
ids=$ZL_TMP/ids
: >"$ids"
log=$ZL_TMP/zaaklink.log

# ---- read-only and full: a tmpfs of our own ----
mnt=$ZL_TMP/disk
mkdir -p "$mnt"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=256k,mode=755 zaaklink-test "$mnt" 2>/dev/null; then
	# Lazily: a process still holding a file there must not keep it mounted.
	zl_on_exit "umount -l '$mnt'"
	state=$mnt/state.db
	conf=$ZL_TMP/tmpfs.conf
	zl_conf "$conf" "$db" "$state" "$ex"
	rc=0; zl_once "$conf" "$log" || rc=$?
	is "$rc" 0 "a first pass on the tmpfs"
	add_links 3
	mount -o remount,ro "$mnt" || bail "cannot remount read-only"
	rc=0; out=$(zl_zl -c "$conf" once 2>&1 >/dev/null | grep -v '^....-..-..T') || rc=$?
	rc=${PIPESTATUS[0]}; [ "$rc" = 0 ] && rc=$(zl_zl -c "$conf" once >/dev/null 2>&1; echo $?)
	like "$rc" '^(73|74|75|78)$' "read-only directory: once fails (exit $rc)"
	like "$out" "$mnt.*[Rr]ead-only file system" "read-only directory: one line naming the file and the cause: '$out'"
	is "$(printf '%s\n' "$out" | grep -c .)" 1 "read-only directory: exactly one line on stderr"
	mount -o remount,rw "$mnt"
	is "$(sqlite3 -readonly "$state" 'pragma integrity_check')" ok "read-only directory: the state file is intact"
	rc=0; zl_once "$conf" "$log" || rc=$?
	f=$(zl_drain "$q" 3 20)
	is "$rc $(zl_count "$f")" "0 3" "writable again: the 3 links made meanwhile are published"

	# Full: more links than the remaining space holds.
	: >"$ids"
	dd if=/dev/zero of="$mnt/filler" bs=4k count=1000 2>/dev/null # fills the tmpfs
	add_links 200
	rc=0; out=$(zl_zl -c "$conf" once 2>&1 >/dev/null | grep -v 'level=info') || rc=$?
	rc=$(zl_zl -c "$conf" once >/dev/null 2>&1; echo $?)
	like "$rc" '^(73|74|75)$' "disk full: once fails (exit $rc)"
	like "$out" "$state: .*(full|space|I/O error)" "disk full: names the file and the cause: '$out'"
	rm -f "$mnt/filler"
	mount -o remount,size=16m "$mnt"
	is "$(sqlite3 -readonly "$state" 'pragma integrity_check')" ok "disk full: the state file is intact"
	rc=0; zl_once "$conf" "$log" || rc=$?
	f=$(zl_drain "$q" 200 30)
	res=$(zl_each_once "$ids" "$f")
	is "$rc ${res% distinct=*}" "0 missing=0 extra=0 duplicates=0" "space again: every link made meanwhile is published, once"
	zl_figures "fault=disk_readonly links=3" "fault=disk_full links=200 $res"
else
	skip 10 "cannot mount a tmpfs here (needs root)"
fi

# ---- the file size limit (RLIMIT_FSIZE) ----
state=$ZL_TMP/fsize/state.db
mkdir -p "$ZL_TMP/fsize"
conf=$ZL_TMP/fsize.conf
zl_conf "$conf" "$db" "$state" "$ex"
rc=0; zl_once "$conf" "$log" || rc=$?
: >"$ids"
add_links 300
size_kb=$(($(stat -c %s "$state") / 1024 + 8))
rc=0; out=$(ulimit -f "$size_kb"; zl_zl -c "$conf" once 2>&1 >/dev/null) || rc=$?
out=$(printf '%s\n' "$out" | grep -v 'level=info')
cmp_ok "$rc" -lt 128 "file size limit: once is not killed by a signal (exit $rc)"
like "$rc" '^(73|74|75)$' "file size limit: once fails with a status, not a crash (exit $rc)"
like "$out" "$state" "file size limit: one line naming the file: '$out'"
is "$(sqlite3 -readonly "$state" 'pragma integrity_check')" ok "file size limit: the state file is intact"
rc=0; zl_once "$conf" "$log" || rc=$?
f=$(zl_drain "$q" 300 30)
res=$(zl_each_once "$ids" "$f")
is "$rc ${res% distinct=*}" "0 missing=0 extra=0 duplicates=0" "without the limit: every link is published, once"
zl_figures "fault=disk_fsize links=300 $res"

# ---- a corrupted state file ----
# Every page but the first (the header and the schema) overwritten: the
# tables a pass reads are damaged, so the pass must notice.
cp "$state" "$ZL_TMP/state.good"
size=$(stat -c %s "$state")
page=$(sqlite3 -readonly "$state" 'pragma page_size')
dd if=/dev/urandom of="$state" bs="$page" seek=1 count=$((size / page - 1)) conv=notrunc 2>/dev/null
cmp_ok "$(cmp -l "$state" "$ZL_TMP/state.good" | wc -l)" -gt $((size / 2)) \
	"corrupted state file (tables): more than half the bytes changed"
add_links 2
rc=0; out=$(zl_zl -c "$conf" once 2>&1 >/dev/null) || rc=$?
out=$(printf '%s\n' "$out" | grep -v 'level=info')
like "$rc" '^(65|70|73|74)$' "corrupted state file (tables): once fails (exit $rc)"
like "$out" "$state.*(malformed|corrupt|not a database)" "corrupted state file (tables): one line naming the file and the cause: '$out'"
is "$(printf '%s\n' "$out" | grep -c .)" 1 "corrupted state file (tables): one line"
isnt "$(sqlite3 -readonly "$state" 'pragma integrity_check' 2>&1 | head -n 1)" ok \
	"corrupted state file (tables): integrity_check reports it to a person"
printf 'garbage, not SQLite at all' | dd of="$state" bs=1 conv=notrunc 2>/dev/null
cp "$state" "$ZL_TMP/state.bad"
rc=0; out=$(zl_zl -c "$conf" once 2>&1 >/dev/null) || rc=$?
like "$rc" '^(65|70|73|74)$' "corrupted state file (header): once fails (exit $rc)"
like "$out" "$state.*(malformed|corrupt|not a database)" "corrupted state file (header): names the file and the cause: '$out'"
is "$(printf '%s\n' "$out" | grep -c .)" 1 "corrupted state file (header): one line"
ok "the corrupted file is left as it was, for a person to look at" cmp -s "$state" "$ZL_TMP/state.bad"
zl_figures "fault=disk_corrupt cases=2"
done_testing
