#!/bin/bash
# dlq export is a faithful copy and dlq purge --from deletes exactly what
# was exported: messages with headers of every AMQP field type, strings
# with NUL, 0xff, an overlong C0 80 and a surrogate, a body of random
# bytes (RabbitMQ refuses NaN and infinities: the unit tests have them);
# the export must parse as strict JSON (valid UTF-8, no lone
# surrogate, no duplicate names, no NaN) and give back every value, type
# and byte. dlq list must not let a message id forge a line or send
# escape sequences to the terminal.
. "$(dirname "$0")/../lib.sh"
zl_require_tools python3
zl_servers_up

ex=$(zl_exchange_new)
dlq=$ex.dlq
conf=$ZL_TMP/zaaklink.conf
zl_conf "$conf" unused "$ZL_TMP/state.db" "$ex" \
	"amqp.queues = ( { name = \"$ex.q\"; bindings = [ \"t.#\" ]; } );" 'retry.delays = [ 60 ];'
rc=0; zl_zl -c "$conf" setup >/dev/null 2>"$ZL_TMP/setup.err" || rc=$?
is "$rc" 0 "setup: exit 0 $(cat "$ZL_TMP/setup.err")"
for q in "$ex.q" "$ex.retry" "$ex.wait.60s" "$dlq" "$ex.unrouted"; do
	echo "$q" >>"$ZL_TMP/queues"
done

count() { zl_probe count "$dlq"; }
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# park ARGS...: publishes one message straight into the parking queue.
park() { zl_probe publish-typed "" "$dlq" "$@" || bail "cannot publish into $dlq: $*"; }

body=$ZL_TMP/random.bin
head -c 300 /dev/urandom >"$body"
park --body-file "$body" --prop message_id="$(hex m1)" --prop type="$(hex t.x)" \
	--prop content_type="$(hex application/octet-stream)" --prop correlation_id=ff00c080 \
	--prop app_id="$(hex 'zaak✓')" --timestamp 18446744073709551615 --priority 7 \
	--header b=bool:1 \
	--header i8=int8:-128 --header u8=uint8:255 \
	--header i16=int16:-32768 --header u16=uint16:65535 \
	--header i32=int32:-2147483648 --header u32=uint32:4294967295 \
	--header i64=int64:-9223372036854775808 --header i64b=int64:9007199254740993 \
	--header u64=uint64:18446744073709551615 \
	--header f32=float:0.1 --header f64=double:0.1 --header fnz=double:-0.0 \
	--header dec=decimal:2/12345 --header ts=timestamp:1700000000 --header v=void: \
	--header snul=longstr:610062 --header sff=longstr:61ff --header sc080=longstr:c080 \
	--header ssur=longstr:eda080 --header s4=longstr:f09f9880 \
	--header sctl=longstr:610a621b --header bin=bytes:6869 \
	--header 'arr=array:int32:1;longstr:6869;void:;longstr:ff' \
	--header 'tbl=table:k=int16:5;s=longstr:ff' \
	--header 'odd=table:hex:ff=int8:1;k=int8:2;k=int8:3'
printf 'h\xc3\xa9llo' >"$ZL_TMP/b2"
park --body-file "$ZL_TMP/b2" --prop message_id="$(hex $'m2\nzaaklink: forged')" \
	--prop type="$(hex $'t.\e[31mred')"
printf 'a\0b' >"$ZL_TMP/b3"
park --body-file "$ZL_TMP/b3" --prop message_id=6d33ff
printf 'x' >"$ZL_TMP/b4"
park --body-file "$ZL_TMP/b4" --header hex:ff=int8:1
is "$(count)" 4 "four messages parked"

# ---- list: one line per message, no control byte reaches the terminal ----
out=$(zl_zl -c "$conf" dlq list 2>&1)
is "$(wc -l <<<"$out")" 6 "dlq list: a header, 4 messages and the count, nothing more"
is "$(grep -c $'\e' <<<"$out")" 0 "dlq list: no escape character reaches the terminal"
like "$out" 'm2\\x0azaaklink: forged +t[.]\\x1b\[31mred ' "dlq list: newline and ESC shown escaped"
like "$out" 'm3\\xff ' "dlq list: a byte that is not UTF-8 shown escaped"
is "$(LC_ALL=C grep -c $'[\x80-\xff]' <<<"$out")" 0 "dlq list: nothing but ASCII for these ids"
lj=$ZL_TMP/list.json
zl_zl -c "$conf" dlq list --json >"$lj" 2>/dev/null
ok "dlq list --json is valid UTF-8 JSON" python3 -c '
import json, sys
json.loads(open(sys.argv[1], "rb").read().decode("utf-8", "strict"))' "$lj"
is "$(jq -r '.[2].id' "$lj")" "m3�" "dlq list --json: a byte that is not UTF-8 as U+FFFD"

# A message that cannot be moved is named on stderr: one line each, escaped.
rc=0; zl_zl -c "$conf" dlq requeue --all >/dev/null 2>"$ZL_TMP/requeue.err" || rc=$?
err=$(cat "$ZL_TMP/requeue.err")
is "$rc:$(count)" 75:4 "dlq requeue of messages without origin queue: exit 75, left parked"
is "$(grep -c . <<<"$err")" 4 "dlq requeue: one error line per message ($err)"
like "$err" "message 'm2\\\\x0azaaklink: forged' has no origin queue" "dlq requeue: the id quoted"
is "$(grep -c $'\e' <<<"$err")" 0 "dlq requeue: no escape character in the errors"

# ---- export --------------------------------------------------------------
exp=$ZL_TMP/export.jsonl
rc=0; zl_zl -c "$conf" dlq export >"$exp" 2>"$ZL_TMP/export.err" || rc=$?
is "$rc" 0 "dlq export: exit 0 $(cat "$ZL_TMP/export.err")"
is "$(grep -c . "$exp")" 4 "dlq export: one line per message"
is "$(count)" 4 "dlq export leaves the messages parked"

# Strict: the bytes are UTF-8 (RFC 3629), every string encodes back to
# UTF-8 (no lone surrogate escapes), no name twice, no NaN or Infinity.
strict_json() {
	python3 - "$1" <<-'EOF'
	import json, sys
	def pairs(p):
	    names = [k for k, _ in p]
	    if len(names) != len(set(names)):
	        raise ValueError("duplicate name")
	    return dict(p)
	def nonum(c):
	    raise ValueError("not JSON: " + c)
	def walk(v):
	    if isinstance(v, str):
	        v.encode("utf-8", "strict")
	    elif isinstance(v, dict):
	        for k, x in v.items():
	            walk(k)
	            walk(x)
	    elif isinstance(v, list):
	        for x in v:
	            walk(x)
	text = open(sys.argv[1], "rb").read().decode("utf-8", "strict")
	for line in text.splitlines():
	    walk(json.loads(line, object_pairs_hook=pairs, parse_constant=nonum))
	EOF
}
ok "dlq export: strict JSON (UTF-8, no lone surrogate, unique names, no NaN)" strict_json "$exp"
jq_reads() { jq -e . "$1" >/dev/null; }
ok "dlq export: jq reads every line" jq_reads "$exp"
ok "dlq export: iconv finds only UTF-8" iconv -f UTF-8 -t UTF-8 "$exp" -o /dev/null

# Every value, type and byte, checked in one place; prints what differs.
check=$ZL_TMP/check.py
cat >"$check" <<'EOF'
import base64, json, math, struct, sys
exp, body, queue = sys.argv[1], sys.argv[2], sys.argv[3]
lines = [json.loads(l) for l in open(exp, encoding="utf-8")]
bad = []
def eq(what, got, want):
    if got != want or type(got) != type(want):
        bad.append("%s: %r, not %r" % (what, got, want))
def b64(s):
    return base64.b64decode(s, validate=True)
T = lambda t, v: {"type": t, "value": v}
B = lambda t, b: {"type": t, "base64": base64.b64encode(b).decode()}
m1, m2, m3, m4 = lines
for m in lines:
    eq("format", m.get("format"), 2)
    eq("queue", m.get("queue"), queue)
    eq("exchange", m.get("exchange"), "")
    eq("routing_key", m.get("routing_key"), queue)
p = m1["properties"]
eq("message_id", p.get("message_id"), "m1")
eq("type", p.get("type"), "t.x")
eq("content_type", p.get("content_type"), "application/octet-stream")
eq("correlation_id", b64(p.get("correlation_id_base64", "")), b"\xff\x00\xc0\x80")
eq("correlation_id text", "correlation_id" in p, False)
eq("app_id", p.get("app_id"), "zaak\u2713")
eq("timestamp", p.get("timestamp"), "18446744073709551615")
eq("priority", p.get("priority"), 7)
eq("delivery_mode", p.get("delivery_mode"), 2)
eq("body", "body" in m1, False)
eq("body_base64", b64(m1["body_base64"]), open(body, "rb").read())
h = m1["headers"]
want = {
    "b": T("bool", True),
    "i8": T("int8", -128), "u8": T("uint8", 255),
    "i16": T("int16", -32768), "u16": T("uint16", 65535),
    "i32": T("int32", -2147483648), "u32": T("uint32", 4294967295),
    "i64": T("int64", "-9223372036854775808"), "i64b": T("int64", "9007199254740993"),
    "u64": T("uint64", "18446744073709551615"),
    "dec": T("decimal", {"scale": 2, "unscaled": 12345}),
    "ts": T("timestamp", "1700000000"), "v": T("void", None),
    "snul": B("longstr", b"a\x00b"), "sff": B("longstr", b"a\xff"),
    "sc080": B("longstr", b"\xc0\x80"), "ssur": B("longstr", b"\xed\xa0\x80"),
    "s4": T("longstr", "\U0001f600"), "sctl": T("longstr", "a\nb\x1b"),
    "bin": B("bytes", b"hi"),
    "arr": T("array", [T("int32", 1), T("longstr", "hi"), T("void", None), B("longstr", b"\xff")]),
    "tbl": T("table", {"k": T("int16", 5), "s": B("longstr", b"\xff")}),
    "odd": {"type": "table", "entries": [
        {"key_base64": "/w==", "type": "int8", "value": 1},
        {"key": "k", "type": "int8", "value": 2},
        {"key": "k", "type": "int8", "value": 3}]},
}
for k, v in want.items():
    eq("header " + k, h.get(k), v)
eq("f32 type", h["f32"]["type"], "float")
eq("f32 bits", struct.pack("<f", h["f32"]["value"]), struct.pack("<f", 0.1))
eq("f64", h["f64"], T("double", 0.1))
eq("-0.0", (h["fnz"]["type"], h["fnz"]["value"], math.copysign(1, h["fnz"]["value"])),
   ("double", 0.0, -1.0))
extra = set(h) - set(want) - {"f32", "f64", "fnz"}
eq("headers not expected", sorted(extra), [])
eq("m2 message_id", m2["properties"].get("message_id"), "m2\nzaaklink: forged")
eq("m2 type", m2["properties"].get("type"), "t.\x1b[31mred")
eq("m2 body", m2.get("body"), "h\u00e9llo")
eq("m3 message_id", b64(m3["properties"].get("message_id_base64", "")), b"m3\xff")
eq("m3 body", b64(m3.get("body_base64", "")), b"a\x00b")
eq("m4 no message_id", [k for k in m4["properties"] if k.startswith("message_id")], [])
eq("m4 headers", m4.get("headers_entries"), [{"key_base64": "/w==", "type": "int8", "value": 1}])
eq("m4 no headers object", "headers" in m4, False)
print("\n".join(bad) if bad else "ok")
EOF
res=$(python3 "$check" "$exp" "$body" "$dlq" 2>&1)
is "$res" ok "dlq export: every value, type tag and byte as published"

# ---- purge --from: exactly what was exported --------------------------------
# Parked after the export: a second message with the id m1 and a new one.
park --prop message_id="$(hex m1)" --header late=longstr:"$(hex late)"
park --prop message_id="$(hex m6)"
is "$(count)" 6 "two more parked after the export"

rc=0; zl_zl -c "$conf" dlq purge --from "$exp" >/dev/null 2>&1 || rc=$?
is "$rc:$(count)" 64:6 "purge --from without --yes: refused (64), nothing deleted"
rc=0; zl_zl -c "$conf" dlq purge --from "$exp" --all --yes >/dev/null 2>&1 || rc=$?
is "$rc:$(count)" 64:6 "purge --from with --all: refused (64)"
rc=0; zl_zl -c "$conf" dlq purge --from "$exp" --type t.x --yes >/dev/null 2>&1 || rc=$?
is "$rc:$(count)" 64:6 "purge --from with a filter: refused (64)"
{ head -n 2 "$exp"; echo '{"format":2,'; } >"$ZL_TMP/broken.jsonl"
rc=0; err=$(zl_zl -c "$conf" dlq purge --from "$ZL_TMP/broken.jsonl" --yes 2>&1) || rc=$?
is "$rc:$(count)" 65:6 "purge --from a broken file: exit 65, nothing deleted"
like "$err" "broken[.]jsonl:3: " "the error names the file and line ($err)"
jq -c '.queue = "elsewhere"' "$exp" >"$ZL_TMP/other.jsonl"
rc=0; err=$(zl_zl -c "$conf" dlq purge --from "$ZL_TMP/other.jsonl" --yes 2>&1) || rc=$?
is "$rc:$(count)" 65:6 "purge --from an export of another queue: exit 65, nothing deleted"
rc=0; zl_zl -c "$conf" dlq purge --from "$ZL_TMP/missing.jsonl" --yes >/dev/null 2>&1 || rc=$?
is "$rc:$(count)" 66:6 "purge --from a file that does not exist: exit 66"

rc=0; out=$(zl_zl -c "$conf" dlq purge --from "$exp" --yes 2>"$ZL_TMP/purge.err") || rc=$?
is "$rc:$out" "0:purged 3 of 4 exported messages from $dlq" "purge --from: the three with an id"
like "$(cat "$ZL_TMP/purge.err")" "1 exported message has no message_id" \
	"purge --from: says which it could not match"
is "$(count)" 3 "purge --from: three left"
left=$(zl_drain "$dlq" 3 10)
is "$(jq -r '(.message_id // "none") + " " + (.headers.late // "-")' "$left" | sort | tr '\n' ' ')" \
	"m1 late m6 - none - " \
	"left: the message without id, and both parked after the export (one with the id m1)"
rc=0; out=$(zl_zl -c "$conf" dlq purge --from "$exp" --yes 2>/dev/null) || rc=$?
is "$rc:$out" "0:purged 0 of 4 exported messages from $dlq" "purge --from again: nothing left to delete"

done_testing
