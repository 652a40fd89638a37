#!/bin/bash
# Prepares this host to boot the devicemapper VM. Idempotent; a second run with everything cached
# only checks (about a second, no network).
#
#   tests/vm/setup.sh [--quiet]
#
# - apt packages: qemu-system-x86, busybox-static, cpio, kmod (+ dmsetup, e2fsprogs, util-linux,
#   which the tests inside the VM run from the host's root);
# - Debian's kernel: the package linux-image-amd64 depends on, resolved now, fetched with
#   `apt-get download` and unpacked with `dpkg-deb -x` into the cache (never installed into the
#   host's /boot); one folder per kernel version, kept until a newer one replaces it;
# - the initramfs (build-initramfs.sh), rebuilt only when its inputs change;
# - $FLYIMAGES_VM_CACHE/current.env naming all of it, read by run-vm.sh.
# Needs root. Exit status: 0 ready, 1 failed (the message says what).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

QUIET=0
[ "${1:-}" = --quiet ] && QUIET=1
say() { [ "$QUIET" = 1 ] || flyvm_say "$@"; }

[ "$(id -u)" = 0 ] || flyvm_die "setup needs root (apt, and qemu reads the whole host root for the guest)"
flyvm_hidden_in_guest "$FLYVM_CACHE" && flyvm_die "FLYIMAGES_VM_CACHE=$FLYVM_CACHE is under a path the guest cannot see (/tmp, /run, ...)"
mkdir -p "$FLYVM_CACHE"
exec 9>"$FLYVM_CACHE/.setup.lock"
flock -w 900 9 || flyvm_die "another setup holds $FLYVM_CACHE/.setup.lock"

export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_update() {
  [ "$APT_UPDATED" = 1 ] && return 0
  say "apt-get update"
  apt-get update -qq >/dev/null || flyvm_die "apt-get update failed"
  APT_UPDATED=1
}

# --- 1. host packages --------------------------------------------------------------------------
PACKAGES=(qemu-system-x86 busybox-static cpio kmod dmsetup e2fsprogs util-linux)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_update
  say "apt-get install ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || flyvm_die "apt-get install ${missing[*]} failed"
fi

# --- 2. the kernel -----------------------------------------------------------------------------
resolve_kernel_package() {
  # linux-image-amd64 is a metapackage depending on the ABI-versioned image, e.g.
  # linux-image-6.1.0-41-amd64; the number drifts with point releases, so never hard-code it.
  apt-cache depends linux-image-amd64 2>/dev/null \
    | awk '$1=="Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}'
}
KPKG=$(resolve_kernel_package || true)
if [ -z "$KPKG" ]; then
  apt_update
  KPKG=$(resolve_kernel_package || true)
fi
[ -n "$KPKG" ] || flyvm_die "apt-cache cannot resolve linux-image-amd64 (no package lists?)"
case "$KPKG" in
  linux-image-*-amd64) ;;
  *) flyvm_die "unexpected kernel package name '$KPKG'" ;;
esac
KVER=${KPKG#linux-image-}
[[ "$KVER" =~ ^[0-9A-Za-z.+~-]+$ ]] || flyvm_die "unexpected kernel version '$KVER'"
KDIR=$FLYVM_CACHE/kernels/$KVER

if [ ! -f "$KDIR/.complete" ]; then
  t0=$(flyvm_now)
  work=$(mktemp -d "$FLYVM_CACHE/.kernel.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  say "fetching $KPKG (apt-get download, not installed)"
  if ! (cd "$work" && apt-get download -qq "$KPKG" >/dev/null 2>&1); then
    apt_update   # the lists may name a version the mirror no longer has
    (cd "$work" && apt-get download -qq "$KPKG" >/dev/null) || flyvm_die "apt-get download $KPKG failed"
  fi
  deb=$(find "$work" -maxdepth 1 -name "${KPKG}_*.deb" -print -quit)
  [ -n "$deb" ] || flyvm_die "apt-get download $KPKG left no .deb"
  dpkg-deb -x "$deb" "$work/x"
  # Debian 12's package ships /lib/modules, later ones /usr/lib/modules.
  mods=
  for m in "$work/x/lib/modules/$KVER" "$work/x/usr/lib/modules/$KVER"; do
    [ -d "$m" ] && mods=$m && break
  done
  [ -n "$mods" ] && [ -f "$work/x/boot/vmlinuz-$KVER" ] || flyvm_die "$deb does not hold vmlinuz-$KVER and its modules"
  mkdir -p "$work/k/boot" "$work/k/lib/modules"
  mv "$work/x/boot/vmlinuz-$KVER" "$work/k/boot/"
  [ -f "$work/x/boot/config-$KVER" ] && mv "$work/x/boot/config-$KVER" "$work/k/boot/"
  mv "$mods" "$work/k/lib/modules/$KVER"
  depmod -b "$work/k" "$KVER"
  touch "$work/k/.complete"
  rm -rf "$KDIR"; mkdir -p "$FLYVM_CACHE/kernels"
  mv "$work/k" "$KDIR"
  rm -rf "$work"; trap - EXIT
  say "kernel $KVER unpacked into $KDIR in $(flyvm_since "$t0") s"
fi
# Older kernels are of no further use once a newer one is ready.
for old in "$FLYVM_CACHE"/kernels/*; do
  [ -d "$old" ] && [ "$old" != "$KDIR" ] && { say "removing old kernel $old"; rm -rf "$old"; }
done
# Initramfs images of old kernels too.
for old in "$FLYVM_CACHE"/initramfs-*.cpio.gz; do
  [ -e "$old" ] || continue
  case "$old" in "$FLYVM_CACHE/initramfs-$KVER-"*) ;; *) rm -f "$old" ;; esac
done

# --- 3. the initramfs --------------------------------------------------------------------------
INITRD=$(QUIET=$QUIET "$FLYVM_HERE/build-initramfs.sh" "$KVER")
[ -f "$INITRD" ] || flyvm_die "build-initramfs.sh produced no image"

# --- 4. what run-vm.sh boots -------------------------------------------------------------------
tmp=$(mktemp "$FLYVM_CACHE/.current.XXXXXX")
{
  printf 'KVER=%q\n' "$KVER"
  printf 'VMLINUZ=%q\n' "$KDIR/boot/vmlinuz-$KVER"
  printf 'MODULES=%q\n' "$KDIR/lib/modules/$KVER"
  printf 'INITRD=%q\n' "$INITRD"
} > "$tmp"
mv "$tmp" "$FLYVM_CURRENT"
say "ready: kernel $KVER, $INITRD"
