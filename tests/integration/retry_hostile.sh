#!/bin/bash
# Hostile messages in the retry queue: whoever may publish to X.retry (or to
# X with a consumer that rejects) must not be able to stop the retry
# controller, nor to write log lines of their own.
#
#   A. zaaklink-attempts of 2147483647 in every integer kind (and 0x17FFFFFFF,
#      and a negative count): parked at once with reason bad_header;
#   B. 130 900 bytes of headers, more than a frame holds once zaaklink
#      adds its own: parked with reason unmovable and the headers that fit;
#   C. a wait tier whose queue refuses everything (policy max-length 0,
#      overflow reject-publish): after 3 nacks parked with reason unmovable;
#   E. a message with the user_id of another user, which RabbitMQ refuses
#      from zaaklink's login and closes the channel (a new delivery tag at
#      every try): after 3 tries parked, without the user_id;
#   D. a parking queue that refuses everything too: the message stays in
#      X.retry, one outage is logged, and it is parked (and the one behind
#      moved) once the parking queue takes messages again;
#
# and in each case the messages behind the hostile one are moved, the
# daemon stays up, and retry.unavailable is logged at most once. A message_id
# with a newline stays inside its quoted log value. Each part runs with a
# daemon and a log of its own, on a RabbitMQ of our own (rabbitmqctl sets the
# policy) with tiers of 300 s and 600 s, so that moved messages stay put.
. "$(dirname "$0")/../lib.sh"
zl_require_tools

# PostgreSQL: the suite's when tests/run-all.sh started one, else our own.
zl_pg_up
zl_rabbit_start "$ZL_TMP/rabbit" || bail "cannot start RabbitMQ"
ctl() { _zl_rabbit_env "$ZL_TMP/rabbit" timeout 60 "$ZL_RABBIT_BIN/rabbitmqctl" "$@"; }

db=$(zl_db_new) || bail "cannot create a database"
ex=$(zl_exchange_new)
oz=$ex.oz
conf=$ZL_TMP/zaaklink.conf
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex" \
	"amqp.queues = ( { name = \"$oz\"; bindings = [ \"t.#\" ]; } );" \
	'retry.delays = [ 300, 600 ];' 'amqp.max_backoff = 2.0;' 'log.level = "debug";'
zl_zl -c "$conf" setup >/dev/null 2>&1 || bail "setup failed"

count() { zl_probe count "$1"; }
holds() { [ "$(count "$1")" = "$2" ]; }
# hex TEXT: TEXT as hex digits, for publish-typed's byte-exact properties.
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
# hostile ID ARGS...: a message to X.retry with the key of the consumer
# queue (as the queue dead-letters it) and the headers of ARGS
# (publish-typed: --header NAME=TYPE:VALUE, --pad-headers BYTES).
hostile() {
	local id=$1
	shift
	zl_probe publish-typed "$ex.retry" "$oz" --body '{"n":1}' --prop "message_id=$(hex "$id")" "$@" ||
		bail "could not publish ${id%%$'\n'*}"
}
# behind ID: a message after the hostile ones, on its second failure: to tier 2.
behind() { hostile "$1" --header zaaklink-attempts=int64:1; }
# part NAME PARKED MOVED: runs the daemon until X.retry is empty with
# PARKED messages in X.dlq and MOVED in the 600 s tier (30 s at most), and
# checks that it stayed up and logged retry.unavailable at most once;
# leaves the log in $ZL_TMP/NAME.log and the parked messages in
# $ZL_TMP/NAME.jsonl, and empties the queues for the next part.
part() {
	local name=$1 parked=$2 moved=$3 log=$ZL_TMP/$1.log pid alive=yes rc q
	zl_run_bg "$conf" "$log"
	pid=$ZL_PID
	zl_wait_for 30 holds "$ex.dlq" "$parked" || diag "$name: the parking queue holds $(count "$ex.dlq")"
	zl_wait_for 10 holds "$ex.retry" 0 || diag "$name: the retry queue holds $(count "$ex.retry")"
	zl_wait_for 10 holds "$ex.wait.600s" "$moved"
	kill -0 "$pid" 2>/dev/null || alive=no
	is "$alive" yes "$name: the daemon is still running"
	rc=0
	zl_stop "$pid" TERM || rc=$?
	is "$rc" 0 "$name: exit 0 on SIGTERM"
	is "$(count "$ex.retry")" 0 "$name: the retry queue is empty"
	is "$(count "$ex.dlq")" "$parked" "$name: $parked parked"
	is "$(count "$ex.wait.600s")" "$moved" "$name: the $moved behind moved to the 600 s tier"
	cmp_ok "$(grep -c 'msg=retry.unavailable' "$log")" -le 1 "$name: retry.unavailable at most once"
	mv "$(zl_drain "$ex.dlq" "" 1)" "$ZL_TMP/$name.jsonl"
	for q in "$ex.retry" "$ex.wait.300s" "$ex.wait.600s" "$ex.dlq"; do
		zl_probe purge "$q" >/dev/null
	done
}
# reason FILE ID: the zaaklink-last-reason of the parked message ID.
reason() {
	jq -r --arg id "$2" 'select(.message_id == $id) | .headers["zaaklink-last-reason"]' "$1"
}

# ---- A: attempts no zaaklink wrote --------------------------------------
# First a message past its last tier, with a log line in its message_id.
forged=$'forge\n<3>level=error msg=forged'
hostile "$forged" --header zaaklink-attempts=int64:2
hostile bad-i32 --header zaaklink-attempts=int32:2147483647
hostile bad-i64 --header zaaklink-attempts=int64:2147483647
hostile bad-u32 --header zaaklink-attempts=uint32:2147483647
hostile bad-u64 --header zaaklink-attempts=uint64:2147483647
hostile bad-i64-wide --header zaaklink-attempts=int64:0x17FFFFFFF
hostile bad-negative --header zaaklink-attempts=int32:-5
hostile bad-string --header "zaaklink-attempts=longstr:$(hex 2)"
behind behind-a
part A 8 1
is "$(reason "$ZL_TMP/A.jsonl" "$forged")" unknown "A: past the last tier: parked as before"
for id in bad-i32 bad-i64 bad-u32 bad-u64 bad-i64-wide bad-negative bad-string; do
	is "$(reason "$ZL_TMP/A.jsonl" "$id")" bad_header "A: $id parked with reason bad_header"
done
like "$(grep 'msg=retry\.parked' "$ZL_TMP/A.log")" 'msg=retry\.parked id="bad-i64" .*reason="bad_header"' \
	"A: retry.parked says bad_header"
is "$(grep -c '^<3>level=error msg=forged' "$ZL_TMP/A.log")" 0 \
	"A: a newline in message_id makes no log line of its own"
like "$(grep 'msg=retry\.parked' "$ZL_TMP/A.log")" 'msg=retry\.parked id="forge\\x0a<3>level=error msg=forged"' \
	"A: the message_id is quoted in retry.parked"

# ---- B: headers too big for a frame --------------------------------------
hostile big --pad-headers 130900
behind behind-b
part B 1 1
is "$(reason "$ZL_TMP/B.jsonl" big)" unmovable "B: parked with reason unmovable"
pads=$(jq -r 'select(.message_id == "big") | [.headers | keys[] | select(startswith("pad-"))] | length' \
	"$ZL_TMP/B.jsonl")
cmp_ok "${pads:-0}" -ge 120 "B: parked with the headers that fit ($pads of 131 pad headers)"
like "$(grep 'msg=retry\.parked' "$ZL_TMP/B.log")" 'msg=retry\.parked id="big" .*reason="unmovable" why="headers too big' \
	"B: retry.parked says why"

# ---- C: a wait queue that refuses every message --------------------------
ctl set_policy --apply-to queues "full-$ex" "^$(sed 's/[.]/\\./g' <<<"$ex.wait.300s")\$" \
	'{"max-length":0,"overflow":"reject-publish"}' >"$ZL_TMP/ctl.out" 2>&1 ||
	bail "rabbitmqctl set_policy failed: $(cat "$ZL_TMP/ctl.out")"
for _ in $(seq 50); do
	zl_probe publish "$ex.wait.300s" x '{}' --id probe 2>"$ZL_TMP/nack.err" || break
	zl_probe purge "$ex.wait.300s" >/dev/null
	sleep 0.2
done
like "$(cat "$ZL_TMP/nack.err")" "nacked" "C: the 300 s tier's queue refuses messages"
hostile full
behind behind-c
part C 1 1
is "$(reason "$ZL_TMP/C.jsonl" full)" unmovable "C: parked with reason unmovable"
is "$(grep -c 'msg=retry.move_failed id="full"' "$ZL_TMP/C.log")" 3 "C: tried 3 times"
like "$(grep 'msg=retry\.parked' "$ZL_TMP/C.log")" 'msg=retry\.parked id="full" .*reason="unmovable" why="could not be moved 3 times"' \
	"C: retry.parked says why"
ctl clear_policy "full-$ex" >/dev/null 2>&1 || diag "could not clear the policy full-$ex"

# ---- D: not even the parking queue takes it -------------------------------
# The message stays at the head of X.retry (it is never dropped), which is
# one outage, logged once, until the parking queue takes it again.
ctl set_policy --apply-to queues "full-$ex.dlq" "^$(sed 's/[.]/\\./g' <<<"$ex.dlq")\$" \
	'{"max-length":0,"overflow":"reject-publish"}' >"$ZL_TMP/ctl.out" 2>&1 ||
	bail "rabbitmqctl set_policy failed: $(cat "$ZL_TMP/ctl.out")"
: >"$ZL_TMP/nack.err"
for _ in $(seq 50); do
	zl_probe publish "" "$ex.dlq" '{}' --id probe 2>"$ZL_TMP/nack.err" || break
	zl_probe purge "$ex.dlq" >/dev/null
	sleep 0.2
done
like "$(cat "$ZL_TMP/nack.err")" "nacked" "D: the parking queue refuses messages"
hostile bad-d --header zaaklink-attempts=int32:2147483647
behind behind-d
log=$ZL_TMP/D.log
zl_run_bg "$conf" "$log"
pid=$ZL_PID
zl_wait_log 'msg=retry\.unavailable' 20 || diag "D: no retry.unavailable"
# Two more rounds of backoff (1 s, 2 s) at the same message.
zl_wait_for 20 eval '[ "$(grep -c "msg=retry.reconnect_failed" "$log")" -ge 2 ]' || diag "D: no retries"
is "$(count "$ex.retry")" 2 "D: both messages still in the retry queue"
ok "D: the daemon is still running" kill -0 "$pid"
ctl clear_policy "full-$ex.dlq" >/dev/null 2>&1 || diag "could not clear the policy full-$ex.dlq"
zl_wait_for 30 holds "$ex.dlq" 1 || diag "D: the parking queue holds $(count "$ex.dlq")"
zl_wait_for 10 holds "$ex.wait.600s" 1
zl_wait_log 'msg=retry\.recovered' 10 || diag "D: no retry.recovered"
rc=0
zl_stop "$pid" TERM || rc=$?
is "$rc" 0 "D: exit 0 on SIGTERM"
is "$(count "$ex.dlq") $(count "$ex.wait.600s") $(count "$ex.retry")" "1 1 0" \
	"D: parked once the parking queue takes it, and the one behind moved"
is "$(grep -c 'msg=retry.unavailable' "$log")" 1 "D: retry.unavailable logged once"
is "$(grep -c 'msg=retry.recovered' "$log")" 1 "D: retry.recovered logged once"
is "$(grep -c 'level=info msg=retry.ready' "$log")" 1 "D: retry.ready at info once, not at every reconnect"
for q in "$ex.retry" "$ex.wait.600s" "$ex.dlq"; do
	zl_probe purge "$q" >/dev/null
done

# ---- E: a message only its own publisher may publish ---------------------
# RabbitMQ refuses a user_id other than the login's and closes the channel:
# every move of a message that another user published with its user_id set
# loses the connection, and a reconnect gives it a new delivery tag.
ctl add_user zlbob zlbob >/dev/null 2>&1 || bail "rabbitmqctl add_user failed"
ctl set_permissions -p / zlbob '.*' '.*' '.*' >/dev/null 2>&1 || bail "rabbitmqctl set_permissions failed"
"$ZL_PROBE" "${ZL_TEST_AMQP_URL/guest:guest@/zlbob:zlbob@}" publish-typed "$ex.retry" "$oz" \
	--body '{}' --prop "message_id=$(hex bob)" --prop "user_id=$(hex zlbob)" ||
	bail "could not publish as zlbob"
behind behind-e
part E 1 1
is "$(reason "$ZL_TMP/E.jsonl" bob)" unmovable "E: parked with reason unmovable"
like "$(grep 'msg=retry\.parked' "$ZL_TMP/E.log")" 'msg=retry\.parked id="bob" .*reason="unmovable" why="could not be moved 3 times"' \
	"E: retry.parked says why"
is "$(jq -r 'select(.message_id == "bob") | .user_id // "none"' "$ZL_TMP/E.jsonl")" none \
	"E: parked without the user_id RabbitMQ would refuse"
done_testing
