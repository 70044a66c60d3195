#!/bin/bash
# demo.sh: zaaklink end to end in a minute, on a fresh Debian 12.
#
#   sudo ./demo.sh --install-deps    first time: installs the Debian packages
#   ./demo.sh                        afterwards (root or not)
#
# Builds zaaklink in _build/default, starts a throwaway PostgreSQL and
# RabbitMQ on free local ports in a temporary directory, loads Open Klant's
# two tables, creates klantcontacten with zaak links, and shows:
#   1. zaaklink check-config --connect
#   2. zaaklink once with initial_sync = "announce": a gekoppeld per link
#   3. a change (a zaak id corrected, a klantcontact deleted with its
#      onderwerpobjecten as Django cascades it) and zaaklink once again:
#      the ontkoppeld / gekoppeld events
#   4. zaaklink status
# then stops everything and removes the temporary directory.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")" && pwd) || exit 1
cd "$ROOT" || exit 1

if [ -t 1 ]; then
	bold=$'\033[1m' plain=$'\033[0m' jqcolor=-C
else
	bold='' plain='' jqcolor=-M
fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() {
	echo "demo.sh: $*" >&2
	exit 1
}

case ${1:-} in
--install-deps)
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	step "Installing the Debian packages"
	mapfile -t deps < <(tests/run-all.sh --print-deps)
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q || die "apt-get update failed"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${deps[@]}" || die "apt-get install failed"
	;;
"") ;;
-h | --help)
	sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"
	exit 0
	;;
*) die "unknown option '$1' (see ./demo.sh --help)" ;;
esac

for tool in jq psql pkg-config autoreconf make; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "$tool is missing; run: sudo ./demo.sh --install-deps"
done

step "Building zaaklink in _build/default"
[ -x configure ] || ./autogen.sh >/dev/null || die "./autogen.sh failed"
[ -f config.status ] && die "$ROOT is configured in place; run 'make distclean' first"
build=$ROOT/_build/default
mkdir -p "$build"
if [ ! -f "$build/Makefile" ]; then
	(cd "$build" && "$ROOT/configure" -q --enable-werror) || die "configure failed"
	echo "" >"$build/.run-all-configure" # the same configuration tests/run-all.sh uses
fi
make -C "$build" -s -j"$(nproc 2>/dev/null || echo 2)" zaaklink amqp-probe >/dev/null ||
	die "the build failed"
"$build/zaaklink" --version

export ZL_BIN=$build/zaaklink ZL_PROBE=$build/amqp-probe ZL_SRCDIR=$ROOT
# Servers, fixtures and the cleanup on exit (every server is stopped by PID).
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

step "Starting a throwaway PostgreSQL and RabbitMQ in $ZL_TMP"
zl_pg_start "$ZL_TMP/pg" || die "PostgreSQL did not start"
echo "PostgreSQL on 127.0.0.1:$PGPORT"
zl_rabbit_start "$ZL_TMP/rabbit" || die "RabbitMQ did not start"
echo "RabbitMQ on 127.0.0.1:$ZL_TEST_AMQP_PORT"

step "Loading Open Klant's tables and some klantcontacten with zaak links"
db=$(zl_db_new) || die "could not create the database"
kc1=$(zl_kc "$db" "Aanvraag parkeervergunning")
kc2=$(zl_kc "$db" "Klacht over afvalinzameling" "KC-1002")
kc3=$(zl_kc "$db" "Vraag over de WOZ-waarde")
zl_ow "$db" "$kc1" "$(zl_uuid)" >/dev/null
ow_fix=$(zl_ow "$db" "$kc1" "ZAAK-2026-0042")             # not a UUID: skipped
zl_ow "$db" "$kc2" "$(zl_uuid)" >/dev/null
zl_ow "$db" "$kc2" "$(zl_uuid)" >/dev/null
zl_ow "$db" "$kc3" "$(zl_uuid)" >/dev/null
zl_ow "$db" "$kc3" "999999999" klant bsn brp >/dev/null # not a zaak
_zl_psql "$db" -P format=aligned -P tuples_only=off -c "SELECT o.id AS onderwerpobject, k.onderwerp, o.onderwerpobjectidentificator_code_objecttype AS type,
	o.onderwerpobjectidentificator_object_id AS object_id
	FROM klantinteracties_onderwerpobject o JOIN klantinteracties_klantcontact k ON k.id = o.klantcontact_id
	ORDER BY o.id"
echo "(zaaklink reads them as role zaaklink, which may only SELECT)"

ex=zaaklink.events
q=$(zl_queue_new "$ex" '#') || die "could not declare a queue on $ex"
conf=$ZL_TMP/zaaklink.conf
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex" 'events.initial_sync = "announce";'
step "The configuration ($conf)"
cat "$conf"

# show FILE: the messages of a drained queue, one block per message.
show() {
	local n
	n=$(zl_count "$1")
	echo "$n message(s) on exchange $ex:"
	zl_jq "$1" '"--- routing key \(.routing_key), message_id \(.message_id), content_type \(.content_type)\n"
		+ (ev | tojson)' | while IFS= read -r line; do
		case $line in
		---*) printf '\n%s\n' "$line" ;;
		*) jq "$jqcolor" . <<<"$line" 2>/dev/null || echo "$line" ;;
		esac
	done
}

step "zaaklink -c $conf check-config --connect"
"$ZL_BIN" -c "$conf" check-config --connect || die "check-config --connect failed"
echo "configuration valid; PostgreSQL and RabbitMQ reachable"

step "zaaklink once   (first pass, initial_sync = \"announce\")"
"$ZL_BIN" -c "$conf" once || die "once failed"
show "$(zl_drain "$q" 4 10)"

step "Changes in Open Klant"
echo "- the zaak id ZAAK-2026-0042 is corrected to a UUID"
zl_sql "$db" "UPDATE klantinteracties_onderwerpobject
	SET onderwerpobjectidentificator_object_id = '$(zl_uuid)' WHERE id = $ow_fix"
echo "- klantcontact 'Klacht over afvalinzameling' is deleted with its two onderwerpobjecten,"
echo "  in one transaction, as Django cascades it"
zl_sql "$db" "BEGIN;
	DELETE FROM klantinteracties_onderwerpobject WHERE klantcontact_id = $kc2;
	DELETE FROM klantinteracties_klantcontact WHERE id = $kc2;
	COMMIT;"
echo "- the onderwerp of 'Vraag over de WOZ-waarde' changes (the label of its link)"
zl_sql "$db" "UPDATE klantinteracties_klantcontact SET onderwerp = 'Bezwaar WOZ-beschikking' WHERE id = $kc3"

step "zaaklink once   (detects the changes)"
"$ZL_BIN" -c "$conf" once || die "once failed"
show "$(zl_drain "$q" 5 10)"

step "zaaklink status"
"$ZL_BIN" -c "$conf" status

step "Stopping PostgreSQL and RabbitMQ"
zl_rabbit_stop "$ZL_TMP/rabbit"
zl_pg_stop "$ZL_TMP/pg"
echo "done"
