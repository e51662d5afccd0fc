#!/usr/bin/env bash
# Build the gapscan appliance OS: a Debian bookworm root file system (mmdebstrap) with gapscan installed
# into /opt/gapscan/venv from this repository's wheel, a manifest of every package and wheel with its
# version and SHA-256, a root file system tarball and a partitioned disk image (EFI, rootA, rootB, state).
#
#   image-build/build.sh --arch amd64|arm64 --out DIR [options]
#
# Options:
#   --mirror URL     Debian mirror (default http://deb.debian.org/debian; a snapshot.debian.org URL makes
#                    the build repeatable together with --lock)
#   --security-mirror URL  Debian security mirror (default http://deb.debian.org/debian-security)
#   --lock FILE      install exactly the package versions of a previous build's manifest.json
#   --cache DIR      keep downloaded .deb files here between builds
#   --allow-smb      let the firewall open outbound TCP 445 to LAN addresses (for scanning SMB shares)
#   --no-disk        stop after the root file system tarball
#   --keep-rootfs    leave the unpacked root in DIR/rootfs (image-check uses it)
#   -h, --help       this text
#
# Needs (Debian packages): mmdebstrap, python3-venv, e2fsprogs, dosfstools, mtools, fdisk; for arm64 on
# amd64 also qemu-user-static and binfmt-support. Runs as root (mmdebstrap root mode; no loop devices).
set -euo pipefail

main() {
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { echo "build.sh: $*" >&2; exit 2; }

arch="" out="" mirror="http://deb.debian.org/debian" security_mirror="http://deb.debian.org/debian-security"
suite="bookworm" lock="" cache="" allow_smb=0
make_disk=1 keep_rootfs=0
while (($#)); do
	case $1 in
	--arch) arch=${2:-}; shift 2 ;;
	--out) out=${2:-}; shift 2 ;;
	--mirror) mirror=${2:-}; shift 2 ;;
	--security-mirror) security_mirror=${2:-}; shift 2 ;;
	--lock) lock=${2:-}; shift 2 ;;
	--cache) cache=${2:-}; shift 2 ;;
	--allow-smb) allow_smb=1; shift ;;
	--no-disk) make_disk=0; shift ;;
	--keep-rootfs) keep_rootfs=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
case $arch in
amd64) py_machine=x86_64 ;;
arm64) py_machine=aarch64 ;;
*) die "--arch must be amd64 or arm64, not '${arch}'" ;;
esac
[[ -n $out ]] || die "--out DIR is required"
[[ -z $lock || -f $lock ]] || die "lock file '$lock' does not exist"
[[ $(id -u) -eq 0 ]] || die "must run as root (mmdebstrap root mode, file ownership in the images)"
for tool in mmdebstrap python3 tar gzip; do
	command -v "$tool" >/dev/null || die "'$tool' is missing (apt-get install $tool)"
done
if [[ $arch != "$(dpkg --print-architecture)" ]] && ! command -v arch-test >/dev/null; then
	die "building $arch on $(dpkg --print-architecture) needs qemu-user-static, binfmt-support and arch-test"
fi
if [[ $arch != "$(dpkg --print-architecture)" ]] && ! arch-test "$arch" >/dev/null 2>&1; then
	die "this machine cannot run $arch binaries: install qemu-user-static and binfmt-support, and mount binfmt_misc"
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
rootfs=$out/rootfs
work=$out/work
rm -rf "$rootfs" "$work"
mkdir -p "$work"

# Reproducible time stamps: the commit's time.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

# --- Python wheels: gapscan from this repository, its dependencies for the target --------------------------
# Debian's own CPython (3.11, the target's) makes the wheels where it exists, so built extensions match.
py=/usr/bin/python3
[[ -x $py ]] || py=python3
echo "build.sh: building the gapscan wheel and collecting $arch wheels for Python 3.11" >&2
wheels=$work/wheels
"$py" -m venv "$work/buildvenv"
"$work/buildvenv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip wheel
"$work/buildvenv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$wheels" "$repo"
gapscan_wheel=$(ls "$wheels"/gapscan-*.whl)
if [[ $arch == "$(dpkg --print-architecture)" ]]; then
	# Native: binary wheels where PyPI has them, and the few sdist-only packages (pytsk3) compiled here
	# against bookworm's glibc and CPython 3.11, exactly what the image runs.
	"$work/buildvenv/bin/python" -m pip wheel --quiet --disable-pip-version-check --prefer-binary \
		--wheel-dir "$wheels" "$gapscan_wheel" ||
		die "could not collect or build the wheels gapscan needs (see the pip message above)"
else
	# Foreign: binary wheels for the target only (pip does not widen a --platform by itself, so every
	# manylinux tag that glibc 2.36 runs is listed). A dependency that exists only as source stops the build.
	platforms=(--platform "manylinux2014_$py_machine")
	for glibc in 17 24 26 27 28 31 34 35 36; do platforms+=(--platform "manylinux_2_${glibc}_$py_machine"); done
	"$work/buildvenv/bin/python" -m pip download --quiet --disable-pip-version-check --dest "$wheels" \
		--only-binary=:all: "${platforms[@]}" --python-version 3.11 --implementation cp \
		--abi cp311 --abi abi3 --abi none "$gapscan_wheel" ||
		die "a dependency of gapscan has no manylinux $py_machine wheel for CPython 3.11 (see the pip message above); build it on an $arch bookworm machine and use that machine for this build"
fi
python3 "$here/lib/manifest.py" lock-wheels "$wheels" >"$wheels/requirements.lock"

# --- Debian package list ------------------------------------------------------------------------------
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]//g' "$@" | grep -v '^$' || true; }
mapfile -t packages < <(read_list "$here/packages.txt" "$here/packages-$arch.txt")
mapfile -t excluded < <(read_list "$here/packages.exclude")
for p in "${packages[@]}"; do
	for x in "${excluded[@]}"; do [[ $p != "$x" ]] || die "package '$p' is in packages.exclude"; done
done
if [[ -n $lock ]]; then
	mapfile -t packages < <(python3 "$here/lib/manifest.py" pins "$lock" --arch "$arch")
fi
include=$(IFS=,; echo "${packages[*]}")

# --- Overlay: configuration files, units, rules ------------------------------------------------------
overlay=$work/overlay
cp -a "$here/rootfs" "$overlay"
if ((allow_smb)); then
	"$here/lib/firewall.sh" --allow-smb >"$overlay/etc/nftables.conf"
else
	"$here/lib/firewall.sh" >"$overlay/etc/nftables.conf"
fi
mkdir -p "$overlay/usr/share/doc/gapscan"
cp "$here/README.md" "$overlay/usr/share/doc/gapscan/README.image.md"

hooks=()
if [[ -n $cache ]]; then
	mkdir -p "$cache"
	cache=$(cd "$cache" && pwd)
	hooks+=(--setup-hook="mkdir -p \"\$1/var/cache/apt/archives\"; find '$cache' -maxdepth 1 -name '*.deb' -exec cp -t \"\$1/var/cache/apt/archives\" {} +")
	hooks+=(--customize-hook="find \"\$1/var/cache/apt/archives\" -maxdepth 1 -name '*.deb' -exec cp -n -t '$cache' {} +")
fi
hooks+=(
	--customize-hook="cp -a --no-preserve=ownership '$overlay/.' \"\$1/\""
	--customize-hook="mkdir -p \"\$1/tmp/gapscan-wheels\" && cp '$wheels'/*.whl '$wheels/requirements.lock' \"\$1/tmp/gapscan-wheels/\""
	--customize-hook="chroot \"\$1\" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH /usr/lib/gapscan/image-customize /tmp/gapscan-wheels"
	--customize-hook="python3 '$here/lib/manifest.py' build --root \"\$1\" --wheels '$wheels' --arch '$arch' --suite '$suite' --mirror '$mirror $security_mirror' --repo '$repo' --out '$out/manifest.json'"
	--customize-hook="rm -rf \"\$1/tmp/gapscan-wheels\""
)

# The point release plus its security and stable updates: an appliance must not ship known-fixed holes.
sources=("deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security_mirror $suite-security main")
echo "build.sh: mmdebstrap $suite/$arch (${#packages[@]} packages requested) from $mirror" >&2
mmdebstrap --mode=root --variant=minbase --architectures="$arch" --components=main \
	--aptopt='APT::Install-Recommends "false"' --aptopt='APT::Install-Suggests "false"' \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-include=/usr/share/doc/gapscan/*' \
	--include="$include" "${hooks[@]}" \
	"$suite" "$rootfs" "${sources[@]}"

# --- Refuse an image that breaks its own rules ----------------------------------------------------------
for x in "${excluded[@]}"; do
	# shellcheck disable=SC2016 # ${Status} is dpkg-query's format, not a shell variable
	if chroot "$rootfs" dpkg-query -W -f='${Status}' "$x" 2>/dev/null | grep -q 'install ok installed'; then
		die "excluded package '$x' was pulled into the image (by a dependency)"
	fi
done
[[ ! -e $rootfs/usr/sbin/sshd ]] || die "an sshd binary is in the image"

# --- Root file system tarball -------------------------------------------------------------------------
echo "build.sh: writing rootfs-$arch.tar.gz" >&2
tar --sort=name --numeric-owner --xattrs --xattrs-include='*' --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
	-C "$rootfs" -cf - . | gzip -n >"$out/rootfs-$arch.tar.gz"

# --- Disk image ---------------------------------------------------------------------------------------
if ((make_disk)); then
	"$here/lib/mkdisk.sh" "$rootfs" "$arch" "$out/gapscan-$arch.img"
fi

outputs=("rootfs-$arch.tar.gz" manifest.json)
((make_disk)) && outputs+=("gapscan-$arch.img")
(cd "$out" && sha256sum "${outputs[@]}" >SHA256SUMS)
((keep_rootfs)) || rm -rf "$rootfs"
rm -rf "$work"
echo "build.sh: done: $out" >&2
ls -l "$out" >&2
}

main "$@"
