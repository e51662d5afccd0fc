#!/usr/bin/env bash
# Make a GPT disk image from a root directory without loop devices, mounting or root-only tools: the table
# first (sfdisk), then each file system written in place at its partition's offset (mkfs.vfat --offset +
# mtools for the EFI partition, mkfs.ext4 -E offset= -d for the ext4 ones).
#
#   mkdisk.sh ROOTFS ARCH OUT.img
#
# Layout (partition labels are what fstab and the boot entries use):
#   1 esp    256 MiB  vfat  systemd-boot, kernel + initrd for each slot, entries gapscan-a / gapscan-b
#   2 rootA  ROOT     ext4  the root file system, mounted read-only (slot A, booted first)
#   3 rootB  ROOT     ext4  empty until an OS update writes slot B
#   4 state  256 MiB  ext4  /var/lib/gapscan; grown to fill the medium on first boot (x-systemd.growfs + repart)
set -euo pipefail
rootfs=$1 arch=$2 img=$3
die() { echo "mkdisk.sh: $*" >&2; exit 2; }
for tool in mkfs.ext4 mkfs.vfat mcopy mmd sfdisk; do
	command -v "$tool" >/dev/null || die "'$tool' is missing (apt-get install e2fsprogs dosfstools mtools fdisk)"
done
case $arch in
amd64) efi_name=BOOTX64.EFI sd_boot=systemd-bootx64.efi console="console=tty0 console=ttyS0,115200" ;;
arm64) efi_name=BOOTAA64.EFI sd_boot=systemd-bootaa64.efi console="console=tty0" ;;
*) die "unknown arch $arch" ;;
esac
work=$(mktemp -d "${img}.parts.XXXXXX")
trap 'rm -rf "$work"' EXIT

kernel=$(find "$rootfs/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n1)
initrd=$(find "$rootfs/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -n1)
[[ -n $kernel && -n $initrd ]] || die "no kernel/initrd in $rootfs/boot (is linux-image-$arch in packages-$arch.txt?)"
efi_bin=$rootfs/usr/lib/systemd/boot/efi/$sd_boot
[[ -f $efi_bin ]] || die "no $efi_bin (is systemd-boot-efi installed?)"

mib=$((1024 * 1024))
esp_mib=256 state_mib=256
used_mib=$(du -sm --apparent-size "$rootfs" | cut -f1)
root_mib=$(((used_mib * 13 / 10 + 200 + 63) / 64 * 64)) # 30% + 200 MiB headroom, 64 MiB aligned

# Hardening on the kernel command line (why: README.md "Kernel"). root is read-only; the slot is the label.
cmdline_common="ro rootfstype=ext4 $console quiet usbcore.authorized_default=0 systemd.gpt_auto=0 \
lockdown=integrity init_on_alloc=1 init_on_free=1 slab_nomerge page_alloc.shuffle=1 randomize_kstack_offset=on \
vsyscall=none debugfs=off oops=panic panic=10 module.sig_enforce=1"

# --- GPT first; every file system is then made in place at its partition's offset (no dd, no loop) ------
total_mib=$((1 + esp_mib + 2 * root_mib + state_mib + 1))
rm -f "$img"
truncate -s $((total_mib * mib)) "$img"
sfdisk --quiet --label gpt "$img" <<EOT
label-id: 6A9C0000-0000-4000-8000-000000000000
start=1MiB, size=${esp_mib}MiB, type=uefi, name=esp, uuid=6A9C0003-0000-4000-8000-000000000001
size=${root_mib}MiB, type=linux, name=rootA, uuid=6A9C0003-0000-4000-8000-00000000000A
size=${root_mib}MiB, type=linux, name=rootB, uuid=6A9C0003-0000-4000-8000-00000000000B
size=${state_mib}MiB, type=linux, name=state, uuid=6A9C0003-0000-4000-8000-00000000005E
EOT
esp_off=$((1 * mib))
rootA_off=$(((1 + esp_mib) * mib))
rootB_off=$((rootA_off + root_mib * mib))
state_off=$((rootB_off + root_mib * mib))

# --- EFI system partition ------------------------------------------------------------------------------
mkfs.vfat -F 32 -s 1 -n ESP -i 6a9c0001 --offset $((esp_off / 512)) "$img" $((esp_mib * 1024)) >/dev/null 2>&1
esp="$img@@$esp_off"
export MTOOLS_SKIP_CHECK=1
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/systemd ::/loader ::/loader/entries ::/gapscan
mcopy -i "$esp" "$efi_bin" ::/EFI/BOOT/$efi_name
mcopy -i "$esp" "$efi_bin" ::/EFI/systemd/$sd_boot
mcopy -i "$esp" "$kernel" ::/gapscan/vmlinuz
mcopy -i "$esp" "$initrd" ::/gapscan/initrd.img
printf 'default gapscan-a.conf\ntimeout 0\neditor no\nconsole-mode keep\n' >"$work/loader.conf"
mcopy -i "$esp" "$work/loader.conf" ::/loader/loader.conf
for slot in a b; do
	label=root${slot^^}
	printf 'title gapscan (slot %s)\nlinux /gapscan/vmlinuz\ninitrd /gapscan/initrd.img\noptions root=PARTLABEL=%s %s\n' \
		"${slot^^}" "$label" "$cmdline_common" >"$work/gapscan-$slot.conf"
	mcopy -i "$esp" "$work/gapscan-$slot.conf" ::/loader/entries/gapscan-$slot.conf
done

# --- ext4 partitions ------------------------------------------------------------------------------------
export E2FSPROGS_FAKE_TIME=${SOURCE_DATE_EPOCH:-0}
mkfs.ext4 -q -F -L rootA -U 6a9c0002-0000-4000-8000-00000000000a \
	-E offset=$rootA_off,root_owner=0:0,hash_seed=6a9c0002-0000-4000-8000-000000000002 \
	-d "$rootfs" "$img" "${root_mib}M"
mkfs.ext4 -q -F -L rootB -U 6a9c0002-0000-4000-8000-00000000000b -E offset=$rootB_off,root_owner=0:0 \
	"$img" "${root_mib}M"
# The state partition's root directory belongs to the gapscan account of this root.
uid=$(awk -F: '$1=="gapscan"{print $3}' "$rootfs/etc/passwd")
gid=$(awk -F: '$1=="gapscan"{print $4}' "$rootfs/etc/passwd")
[[ -n $uid && -n $gid ]] || die "no gapscan account in $rootfs/etc/passwd"
mkfs.ext4 -q -F -L state -U 6a9c0002-0000-4000-8000-00000000005e -E "offset=$state_off,root_owner=$uid:$gid" \
	"$img" "${state_mib}M"
[[ $(stat -c %s "$img") -eq $((total_mib * mib)) ]] || die "a file system overran its partition"
echo "mkdisk.sh: $img ($total_mib MiB: esp ${esp_mib}M, rootA/rootB ${root_mib}M each, state ${state_mib}M)" >&2
