#!/bin/bash
# Builds the VM's initramfs for kernel KVER (unpacked by setup.sh) and prints its path.
#
#   tests/vm/build-initramfs.sh KVER
#
# Contents: static busybox (the shell and tools of PID 1), tests/vm/init as /init, tests/vm/launch
# (copied into the guest's view of the host root and run there), and the kernel
# modules the guest needs before it can reach the host's root (virtio, 9p, overlay) plus those the
# tests need (loop, ext4, dm-thin-pool), in dependency order as kmod resolves them. Everything
# else (dmsetup, mkfs.ext4, dotnet, the tests) comes from the host's root inside the VM, where the
# kernel's full module tree is bind-mounted for modprobe.
#
# The image is cached as $FLYIMAGES_VM_CACHE/initramfs-KVER-HASH.cpio.gz, HASH covering every
# input (init, this script, busybox, the module list), so an unchanged input rebuilds nothing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KVER=${1:?usage: build-initramfs.sh KVER}
KROOT=$FLYVM_CACHE/kernels/$KVER
[ -f "$KROOT/.complete" ] || flyvm_die "kernel $KVER is not unpacked in $KROOT: run tests/vm/setup.sh"
BUSYBOX=/bin/busybox
# the list is read whole before it is searched: `busybox --list | grep -q` under pipefail fails at random when grep
# stops at its match while busybox still writes (SIGPIPE, exit 141), which failed a CI run on a loaded machine
applets=$([ -x "$BUSYBOX" ] && "$BUSYBOX" --list 2>/dev/null || true)
grep -qx sh <<<"$applets" || flyvm_die "$BUSYBOX missing: apt-get install busybox-static"
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
file_is_static "$BUSYBOX" || flyvm_die "$BUSYBOX is dynamically linked: install busybox-static"

# Boot-critical first, then what the devicemapper tests need. Built-in ones are skipped by kmod.
MODULES=(virtio_pci virtio_rng 9pnet_virtio 9p overlay loop ext4 dm-thin-pool dm-snapshot)

hash=$( {
  sha256sum "$FLYVM_HERE/init" "$FLYVM_HERE/launch" "$FLYVM_HERE/build-initramfs.sh" "$BUSYBOX"
  printf '%s\n' "$KVER" "${MODULES[@]}"
} | sha256sum | cut -c1-12)
OUT=$FLYVM_CACHE/initramfs-$KVER-$hash.cpio.gz
if [ -f "$OUT" ]; then
  echo "$OUT"
  exit 0
fi

R=$(mktemp -d "$FLYVM_CACHE/.initramfs-root.XXXXXX")
trap 'rm -rf "$R" "$OUT.partial"' EXIT
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,share,lower,host,lib/modules}

cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list); do
  [ -e "$R/bin/$applet" ] || ln -s busybox "$R/bin/$applet"
done

: > "$R/etc/modules.list"
for m in "${MODULES[@]}"; do
  modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" \
    || flyvm_die "kernel $KVER has no module $m"
done | awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' | while read -r ko; do
  b=$(basename "$ko")
  # busybox insmod takes plain .ko files; newer Debian kernels compress their modules.
  case "$b" in
    *.ko.xz)  b=${b%.xz};  xz -dc "$ko" > "$R/lib/modules/$b" ;;
    *.ko.zst) b=${b%.zst}; zstd -qdc "$ko" > "$R/lib/modules/$b" ;;
    *.ko.gz)  b=${b%.gz};  gzip -dc "$ko" > "$R/lib/modules/$b" ;;
    *)        cp "$ko" "$R/lib/modules/$b" ;;
  esac
  echo "$b" >> "$R/etc/modules.list"
done
[ -s "$R/etc/modules.list" ] || flyvm_die "no modules resolved for $KVER"

install -m 0755 "$FLYVM_HERE/init" "$R/init"
install -m 0755 "$FLYVM_HERE/launch" "$R/launch"
(cd "$R" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -1 > "$OUT.partial"
mv "$OUT.partial" "$OUT"
[ "${QUIET:-0}" = 1 ] || flyvm_say "initramfs $OUT: $(du -h "$OUT" | cut -f1), modules: $(tr '\n' ' ' < "$R/etc/modules.list")"
echo "$OUT"
