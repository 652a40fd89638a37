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
  APT_UPDATED=1   # tried: once per run is enough
  apt-get update -qq >/dev/null || { flyvm_say "apt-get update failed"; return 1; }
}

# --- 1. host packages --------------------------------------------------------------------------
PACKAGES=(qemu-system-x86 busybox-static cpio kmod dmsetup e2fsprogs util-linux)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_update || flyvm_die "cannot install ${missing[*]} without package lists"
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
valid_kernel_package() {
  case "$1" in linux-image-*-amd64) [[ "${1#linux-image-}" =~ ^[0-9A-Za-z.+~-]+$ ]] ;; *) return 1 ;; esac
}

# Downloads and unpacks $1 into the cache; fails (status 1) without leaving anything behind.
fetch_kernel() {
  local pkg=$1 kver=${1#linux-image-} work deb mods m t0
  t0=$(flyvm_now)
  work=$(mktemp -d "$FLYVM_CACHE/.kernel.XXXXXX") || return 1
  say "fetching $pkg (apt-get download, not installed)"
  if ! (cd "$work" && apt-get download -qq "$pkg" >/dev/null 2>&1); then
    rm -rf "$work"; return 1
  fi
  deb=$(find "$work" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
  [ -n "$deb" ] && dpkg-deb -x "$deb" "$work/x" || { rm -rf "$work"; return 1; }
  # Debian 12's package ships /lib/modules, later ones /usr/lib/modules.
  mods=
  for m in "$work/x/lib/modules/$kver" "$work/x/usr/lib/modules/$kver"; do
    [ -d "$m" ] && mods=$m && break
  done
  if [ -z "$mods" ] || [ ! -f "$work/x/boot/vmlinuz-$kver" ]; then
    flyvm_say "$deb does not hold vmlinuz-$kver and its modules"
    rm -rf "$work"; return 1
  fi
  mkdir -p "$work/k/boot" "$work/k/lib/modules"
  mv "$work/x/boot/vmlinuz-$kver" "$work/k/boot/"
  if [ -f "$work/x/boot/config-$kver" ]; then mv "$work/x/boot/config-$kver" "$work/k/boot/"; fi
  mv "$mods" "$work/k/lib/modules/$kver"
  depmod -b "$work/k" "$kver" || { rm -rf "$work"; return 1; }
  touch "$work/k/.complete"
  mkdir -p "$FLYVM_CACHE/kernels"
  rm -rf "$FLYVM_CACHE/kernels/$kver"
  mv "$work/k" "$FLYVM_CACHE/kernels/$kver"
  rm -rf "$work"
  say "kernel $kver unpacked into $FLYVM_CACHE/kernels/$kver in $(flyvm_since "$t0") s"
}

# The kernel the local package lists name; then, if that is neither cached nor downloadable,
# the same after apt-get update (the mirror drops superseded versions); then, if the network or
# the mirror is down, the newest kernel already in the cache.
KPKG=$(resolve_kernel_package || true)
KVER=
if valid_kernel_package "$KPKG"; then
  if [ -f "$FLYVM_CACHE/kernels/${KPKG#linux-image-}/.complete" ] || fetch_kernel "$KPKG"; then
    KVER=${KPKG#linux-image-}
  fi
fi
if [ -z "$KVER" ] && [ "$APT_UPDATED" = 0 ] && apt_update; then
  KPKG=$(resolve_kernel_package || true)
  if valid_kernel_package "$KPKG"; then
    if [ -f "$FLYVM_CACHE/kernels/${KPKG#linux-image-}/.complete" ] || fetch_kernel "$KPKG"; then
      KVER=${KPKG#linux-image-}
    fi
  fi
fi
if [ -z "$KVER" ]; then
  newest=$(find "$FLYVM_CACHE/kernels" -mindepth 2 -maxdepth 2 -name .complete -printf '%h\n' 2>/dev/null \
    | xargs -r -n1 basename | sort -V | tail -n1 || true)
  [ -n "$newest" ] || flyvm_die "cannot resolve or fetch the kernel behind linux-image-amd64 (got '${KPKG:-nothing}'), and none is cached"
  flyvm_say "warning: cannot fetch ${KPKG:-the kernel behind linux-image-amd64}; using the cached $newest"
  KVER=$newest
fi
KDIR=$FLYVM_CACHE/kernels/$KVER

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
