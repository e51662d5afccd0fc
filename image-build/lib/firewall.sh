#!/bin/sh
# Print the appliance's nftables ruleset: rootfs/etc/nftables.conf, with the SMB outbound rule filled in
# when --allow-smb is given (scanning SMB shares needs TCP 445 out to LAN addresses; off by default).
#   lib/firewall.sh [--allow-smb]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
rule='# SMB outbound disabled (build.sh --allow-smb enables it)'
if [ "${1:-}" = "--allow-smb" ]; then
	rule='tcp dport 445 ip daddr @lan_v4 ct state new accept'
elif [ -n "${1:-}" ]; then
	echo "firewall.sh: unknown argument '$1'" >&2
	exit 2
fi
sed "s|# @SMB_OUTBOUND@.*|$rule|" "$here/rootfs/etc/nftables.conf"
