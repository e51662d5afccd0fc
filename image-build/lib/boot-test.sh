#!/usr/bin/env bash
# Optional: boot an amd64 disk image under qemu (software emulation, UEFI via OVMF) and wait for the web UI
# to answer HTTPS through qemu's user network (the guest sees the connection from 10.0.2.2, a LAN address).
#   lib/boot-test.sh IMAGE [TIMEOUT_S] [LOG]
# Needs qemu-system-x86 and ovmf. The image is not modified (qemu snapshot mode). Exit 0 when the UI answered.
set -euo pipefail
img=${1:?usage: boot-test.sh IMAGE [TIMEOUT_S] [LOG]}
timeout_s=${2:-900}
log=${3:-${img%.img}-boot.log}
die() { echo "boot-test.sh: $*" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86 ovmf)"
ovmf_code=/usr/share/OVMF/OVMF_CODE_4M.fd
ovmf_vars=/usr/share/OVMF/OVMF_VARS_4M.fd
[[ -f $ovmf_code && -f $ovmf_vars ]] || die "OVMF firmware is missing (apt-get install ovmf)"
work=$(mktemp -d)
cp "$ovmf_vars" "$work/vars.fd"
port=$((20000 + RANDOM % 20000))
accel=(-cpu max) # TCG: every instruction set extension (numpy 2 needs x86-64-v2)
# Nested KVM here rejects the ARCH_CAPABILITIES MSR that "-cpu host" sets; BOOT_TEST_ACCEL=tcg forces emulation.
[[ -w /dev/kvm && ${BOOT_TEST_ACCEL:-kvm} == kvm ]] && accel=(-enable-kvm -cpu "host,-arch-capabilities")
qemu-system-x86_64 -machine q35 -m 2048 -smp 2 "${accel[@]}" -display none -no-reboot \
	-drive if=pflash,format=raw,readonly=on,file="$ovmf_code" -drive if=pflash,format=raw,file="$work/vars.fd" \
	-drive file="$img",format=raw,if=virtio,snapshot=on \
	-nic user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$port-:443 \
	-serial file:"$log" &
qemu=$!
trap 'kill $qemu 2>/dev/null; wait $qemu 2>/dev/null; rm -rf "$work"' EXIT
start=$SECONDS
while ((SECONDS - start < timeout_s)); do
	if ! kill -0 $qemu 2>/dev/null; then
		die "qemu exited after $((SECONDS - start)) s; serial log: $log"
	fi
	if python3 - "$port" <<'PY' 2>/dev/null; then
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as raw, \
        ctx.wrap_socket(raw) as tls:
    tls.sendall(b"GET / HTTP/1.0\r\nHost: gapscan\r\n\r\n")
    reply = tls.recv(200)
    sys.exit(0 if reply.startswith(b"HTTP/") else 1)
PY
		echo "boot-test.sh: the web UI answered HTTPS after $((SECONDS - start)) s (serial log: $log)"
		exit 0
	fi
	sleep 5
done
die "no HTTPS answer within $timeout_s s; serial log: $log"
