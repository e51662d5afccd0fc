#!/usr/bin/env bash
# image-check: verify a built root file system from the inside, without booting it.
#   lib/check-rootfs.sh ROOTFS [REPORT]
# Runs each check in a private mount + network namespace, chrooted into ROOTFS with /proc, /sys and /dev
# mounted, and the state directory on a scratch tmpfs. Prints one "PASS|FAIL name: detail" line per check
# and exits 1 if any failed. REPORT (optional) gets the same lines plus the systemd-analyze security output.
set -uo pipefail
rootfs=$(cd "${1:?usage: check-rootfs.sh ROOTFS [REPORT]}" && pwd)
report=${2:-/dev/null}
failures=0
: >"$report"

in_root() {
	# Run "$@" (a shell command string) inside the root, in its own mount and network namespaces.
	# shellcheck disable=SC2016 # the inner script expands its own positional parameters
	unshare --mount --net --propagation private -- sh -c '
		r=$1; shift
		mount -t proc proc "$r/proc" && mount -t sysfs sysfs "$r/sys" && mount --rbind /dev "$r/dev" &&
		mount -t tmpfs -o mode=1777 tmpfs "$r/tmp" && mount -t tmpfs tmpfs "$r/run" &&
		mount -t tmpfs -o mode=0700 tmpfs "$r/var/lib/gapscan" &&
		chroot "$r" /bin/sh -c "ip link set lo up 2>/dev/null; chown gapscan:gapscan /var/lib/gapscan; $*"
	' sh "$rootfs" "$@"
}

check() {
	local name=$1 cmd=$2 out rc
	out=$(in_root "$cmd" 2>&1)
	rc=$?
	if ((rc == 0)); then
		echo "PASS $name" | tee -a "$report"
	else
		failures=$((failures + 1))
		echo "FAIL $name (exit $rc): $(echo "$out" | tail -n 5 | tr '\n' ' ')" | tee -a "$report"
	fi
	printf '%s\n' "$out" | sed 's/^/    /' >>"$report"
}

units="gapscand.service gapscan-web.service gapscan-firstboot.service"
check "units verify" "cd /usr/lib/systemd/system && systemd-analyze verify --man=no $units"
check "units enabled" "for u in $units nftables.service systemd-networkd.service; do systemctl is-enabled \$u | grep -qx enabled || { echo \$u not enabled; exit 1; }; done"
check "gapscan --version" "runuser -u gapscan -- /usr/bin/gapscan --version"
check "gapscan selftest" "runuser -u gapscan -- env GAPSCAN_STATE_DIR=/var/lib/gapscan /usr/bin/gapscan selftest"
check "gapscand on PATH" "test -x /opt/gapscan/venv/bin/gapscand || { echo 'no gapscand console script in the venv'; exit 1; }"
check "firstboot identity and banner" "runuser -u gapscan -- /opt/gapscan/venv/bin/python -I /usr/lib/gapscan/firstboot.py identity --state-dir /var/lib/gapscan && /opt/gapscan/venv/bin/python -I /usr/lib/gapscan/firstboot.py banner --state-dir /var/lib/gapscan && grep -q 'SHA-256' /run/issue.d/gapscan.issue"
check "sshd absent" "! command -v sshd && test ! -e /usr/sbin/sshd && ! dpkg-query -W -f='\${Status}' openssh-server 2>/dev/null | grep -q 'install ok installed'"
check "firewall loads" "nft -f /etc/nftables.conf && nft list chain inet gapscan input | grep -q 'policy drop'"
check "root locked" "passwd -S root | awk '{exit !(\$2 == \"L\")}' && getent passwd root | grep -q nologin"
check "no usable passwords" "! awk -F: '\$2 !~ /^[!*]/ {print \$1; bad=1} END {exit !bad}' /etc/shadow"
check "no swap" "! grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab && test \"\$(readlink /etc/systemd/system/swap.target)\" = /dev/null"
check "tmpfs /tmp, ro root" "grep -Eq '^tmpfs[[:space:]]+/tmp[[:space:]]+tmpfs' /etc/fstab && ! grep -Eq '^[^#][^[:space:]]*[[:space:]]+/[[:space:]]' /etc/fstab"
check "udev reads the rules cleanly" "out=\$(udevadm test --action=add /sys/class/net/lo 2>&1); echo \"\$out\" | grep -q 'Reading rules file: /etc/udev/rules.d/71-gapscan-media.rules' && ! echo \"\$out\" | grep -E '^/etc/udev/rules.d/.*(Invalid|Unknown|[Ee]rror)'"
check "gapscan account" "id gapscan | grep -q gapscan-media && getent passwd gapscan | grep -q nologin"

{
	echo "--- systemd-analyze security (offline, inside the image) ---"
	in_root "cd /usr/lib/systemd/system && for u in $units; do systemd-analyze security --offline=yes --no-pager \$u | tail -n 1; done" 2>&1
} | tee -a "$report"

if ((failures)); then
	echo "check-rootfs.sh: $failures check(s) failed" | tee -a "$report" >&2
	exit 1
fi
echo "check-rootfs.sh: all checks passed" | tee -a "$report"
