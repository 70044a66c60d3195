#!/bin/bash
# The .deb under a real systemd: boots this machine's own system in a
# container (systemd-nspawn on a throwaway overlay of /, private network,
# PostgreSQL and RabbitMQ masked), installs the package there and checks
# that the hardened unit starts as Type=notify with its watchdog, shows a
# STATUS= line, reloads and refuses a reload as it should, and stops
# cleanly. Nothing on the host changes; the boot takes seconds. TAP
# output; it skips where it cannot boot a container.
#
#   packaging/tests/systemd-boot.sh PATH/TO/zaaklink_VERSION_ARCH.deb
#
# Needs root, overlayfs and the Debian package systemd-container.
set -uo pipefail

deb=${1:?usage: systemd-boot.sh PACKAGE.deb}
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
command -v systemd-nspawn >/dev/null ||
	{ echo "1..0 # SKIP systemd-nspawn is missing (apt-get install systemd-container)"; exit 0; }

tmp=$(mktemp -d /tmp/zl-boot.XXXXXX) || exit 1
cleanup() {
	umount "$tmp/ovl/merged" 2>/dev/null
	umount "$tmp/ovl" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/ovl" "$tmp/share/out"
cp "$deb" "$tmp/share/zaaklink.deb"
# What runs inside, once the container has booted; it powers it off.
cat >"$tmp/share/run.sh" <<'INSIDE'
#!/bin/bash
exec >/zltest/out/inside.log 2>&1
trap 'systemctl --no-block poweroff' EXIT
conf=/etc/zaaklink/zaaklink.conf
prop() { systemctl show zaaklink -P "$1"; }
dpkg -i /zltest/zaaklink.deb >/dev/null
echo "enabled=$(systemctl is-enabled zaaklink) active=$(systemctl is-active zaaklink)"
systemctl start zaaklink
sleep 3
echo "started=$(prop ActiveState)/$(prop SubState) type=$(prop Type) watchdog=$(prop WatchdogUSec)"
echo "status=$(prop StatusText)"
sed -i 's/^\( *level = \)"info";/\1"debug";/' "$conf"
systemctl reload zaaklink
sed -i 's/^\( *exchange = \)"zaaklink.events";/\1"other.events";/' "$conf"
systemctl reload zaaklink
sleep 1
echo "after-reloads=$(prop ActiveState)/$(prop SubState) pid=$(prop MainPID) restarts=$(prop NRestarts)"
systemctl stop zaaklink
echo "stopped=$(prop ActiveState) result=$(prop Result) status=$(prop ExecMainStatus)"
journalctl -u zaaklink --no-pager -o cat >/zltest/out/journal.log
INSIDE
printf '[Unit]\nAfter=basic.target\n[Service]\nType=oneshot\nExecStart=/bin/bash /zltest/run.sh\n' \
	>"$tmp/share/zl-test.service"

mount -t tmpfs -o size=2G tmpfs "$tmp/ovl" &&
	mkdir -p "$tmp/ovl/upper" "$tmp/ovl/work" "$tmp/ovl/merged" &&
	mount -t overlay overlay -o "lowerdir=/,upperdir=$tmp/ovl/upper,workdir=$tmp/ovl/work" \
		"$tmp/ovl/merged" || { echo "1..0 # SKIP cannot make an overlay of /"; exit 0; }
timeout 300 systemd-nspawn -q -D "$tmp/ovl/merged" --keep-unit --register=no --private-network \
	--link-journal=no --uuid="$(cat /proc/sys/kernel/random/uuid)" \
	--bind="$tmp/share:/zltest" \
	--bind-ro="$tmp/share/zl-test.service:/etc/systemd/system/zl-test.service" \
	-b -- systemd.mask=postgresql.service systemd.mask=rabbitmq-server.service \
	systemd.wants=zl-test.service >"$tmp/console.log" 2>&1

out=$tmp/share/out/inside.log
journal=$tmp/share/out/journal.log
n=0 failed=0
expect() {
	n=$((n + 1))
	if grep -Eq -- "$3" "$2" 2>/dev/null; then
		echo "ok $n - $1"
	else
		failed=$((failed + 1))
		echo "not ok $n - $1"
	fi
}
echo "1..8"
expect "installed, neither enabled nor started" "$out" '^enabled=disabled active=inactive$'
expect "starts as Type=notify (READY=1) with WatchdogSec=10min" "$out" \
	'^started=active/running type=notify watchdog=10min$'
expect "STATUS= shows what it waits for" "$out" '^status=(PostgreSQL|RabbitMQ) unavailable: '
expect "a reload applies log.level" "$journal" 'msg=config.reloaded .* changed=log.level$'
expect "a reload of amqp.exchange is refused" "$journal" 'msg=config.reload_refused .* settings=amqp.exchange '
expect "still the same process after the reloads, never restarted" "$out" \
	'^after-reloads=active/running pid=[1-9][0-9]* restarts=0$'
expect "stops cleanly" "$out" '^stopped=inactive result=success status=0$'
expect "logs daemon.stopping" "$journal" 'msg=daemon.stopping signal=15 '
if [ "$failed" -gt 0 ]; then
	sed 's/^/# /' "$out" "$journal" 2>/dev/null
	tail -n 20 "$tmp/console.log" | sed 's/^/# /'
fi
[ "$failed" -eq 0 ]
