#!/bin/bash
# bench/deliver.sh: deliveries per second of `zaaklink deliver` into the
# Open Zaak stand-in (tests/tools/openzaak-standin), on this machine.
#
#   bench/deliver.sh [--links N] [--runs R] [--latency MS] [--zaaklink BIN]
#                    [--standin BIN]
#
# Starts a throwaway PostgreSQL 15 and RabbitMQ (tests/lib.sh), the
# stand-in, and N links (default 2000) to eight zaken. Each run forgets
# the stand-in's ZaakObjects, re-announces every link (`zaaklink backfill`
# and `zaaklink once`: N gekoppeld in deliver.queue) and times `zaaklink
# deliver --drain` until the queue is empty, with:
#
#   - deliver.concurrency 1, 8 and 32, check_existing and verify on (the
#     default: three requests per gekoppeld whose link is new);
#   - concurrency 8 with check_existing and verify off (one request), the
#     reference for what the two questions cost.
#
# --latency MS makes the stand-in wait MS ms before each answer (default 0:
# it answers in well under a millisecond, so the figures are deliver's and
# the broker's own cost); a real Open Zaak takes tens of milliseconds, and
# then the concurrency is what counts.
#
# Every run must end with exactly N ZaakObjects. Prints a markdown table of
# the median (min, max) deliveries per second over R runs (default 3) and
# the ratio to the reference, with the load average before and after.
set -u -o pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)
N=2000
R=3
LATENCY=0
while [ $# -gt 0 ]; do
	case $1 in
	--links) N=${2:?}; shift 2 ;;
	--runs) R=${2:?}; shift 2 ;;
	--latency) LATENCY=${2:?}; shift 2 ;;
	--zaaklink) ZL_BIN=${2:?}; shift 2 ;;
	--standin) ZL_OPENZAAK=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "deliver.sh: unknown argument $1" >&2; exit 64 ;;
	esac
done
[ -x "${ZL_BIN:-}" ] || { echo "deliver.sh: set ZL_BIN or --zaaklink to a built zaaklink" >&2; exit 64; }
ZL_OPENZAAK=${ZL_OPENZAAK:-$(dirname "$ZL_BIN")/openzaak-standin}
[ -x "$ZL_OPENZAAK" ] || { echo "deliver.sh: no stand-in at $ZL_OPENZAAK (--standin)" >&2; exit 64; }
export ZL_BIN ZL_OPENZAAK
. "$SRC_DIR/tests/lib.sh"
say() { echo "deliver.sh: $*" >&2; }

say "starting PostgreSQL and RabbitMQ"
zl_pg_start "$ZL_TMP/pg" || exit 1
zl_rabbit_start "$ZL_TMP/rabbit" || exit 1
zaken=()
for i in 1 2 3 4 5 6 7 8; do zaken+=("9c1c2a10-0000-4000-8000-00000000000$i"); done
zl_openzaak_start "${zaken[@]}" || exit 1
oz=$ZL_OZ
zl_fixture_new
dq=zl.deliver.$$
kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
zl_ow_many "$db" "$kc" "$N" "${zaken[@]}" || exit 1

# conf NAME CONCURRENCY CHECK VERIFY: a configuration file.
conf() {
	zl_conf "$ZL_TMP/$1.conf" "$db" "$ZL_TMP/state.db" "$ex" 'events.initial_sync = "baseline";' \
		"$(zl_deliver_lines "$dq")" "deliver.concurrency = $2;" "deliver.check_existing = $3;" "deliver.verify = $4;"
}
conf c1 1 true true
conf c8 8 true true
conf c32 32 true true
conf ref 8 false false
zl_zl -c "$ZL_TMP/c8.conf" setup >/dev/null || exit 1
zl_zl -c "$ZL_TMP/c8.conf" once >/dev/null 2>&1 || exit 1

# one NAME: one timed drain; prints deliveries per second.
one() {
	local t0 t1 n
	curl -s -m 10 -X POST "$oz/_admin/reset" >/dev/null
	if ! zl_zl -c "$ZL_TMP/$1.conf" backfill >/dev/null 2>&1 ||
		! zl_zl -c "$ZL_TMP/$1.conf" once >/dev/null 2>&1; then
		say "re-announce failed"
		exit 1
	fi
	t0=$(date +%s%N)
	ZL_CMD_TIMEOUT=900 zl_zl -c "$ZL_TMP/$1.conf" deliver --drain >>"$ZL_TMP/deliver.log" 2>&1 ||
		{ say "deliver --drain failed"; exit 1; }
	t1=$(date +%s%N)
	n=$(curl -s -m 30 "$oz/_admin/zaakobjecten" | jq length)
	[ "$n" = "$N" ] || { say "$1: $n ZaakObjects, expected $N"; exit 1; }
	awk -v n="$N" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f\n", n / (ns / 1e9) }'
}
# shellcheck disable=SC2086 # the figures are a list of words
stat() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d (%d to %d)", m, v[1], v[NR] }'; }
# shellcheck disable=SC2086
median() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

if ((LATENCY > 0)); then
	curl -s -m 5 -X POST "$oz/_admin/slow?ms=$LATENCY&count=100000000" | grep -q '"ok"' ||
		{ say "the stand-in did not take the latency"; exit 1; }
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A got
for ((r = 1; r <= R; r++)); do
	for c in ref c1 c8 c32; do
		v=$(one "$c") || exit 1
		got[$c]+=" $v"
		say "run $r $c: $v deliveries/s"
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
ref=$(median "${got[ref]}")
echo "Deliveries into the Open Zaak stand-in (each answer after $LATENCY ms), $N gekoppeld per run, $R runs, $(nproc) cores;"
echo "load average before: $load_before, after: $load_after."
echo
echo "| deliver | deliveries/s, median (min to max) | ratio to the reference |"
echo "|---|---|---|"
echo "| concurrency 8, check_existing and verify off (reference: one request each) | $(stat "${got[ref]}") | 1 |"
for c in c1 c8 c32; do
	echo "| concurrency ${c#c}, check_existing and verify on (three requests each) | $(stat "${got[$c]}") | $(awk -v a="$(median "${got[$c]}")" -v b="$ref" 'BEGIN { printf "%.2f", a / b }') |"
done
