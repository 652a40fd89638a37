#!/bin/bash
# Benchmark: thin-pool block size and mkfs.ext4 options for image unpacking.
#
# Needs root and a kernel with dm-thin-pool (run it inside the tests/vm VM on machines without:
#   tests/vm/run-vm.sh -- tests/bench/thin-pool-block-size.sh).
# For each block size it makes a loop-backed thin-pool in a private temp folder, a 1 GiB thin
# device, mkfs.ext4 (FlyImages' options), mounts it, unpacks a tree of many small files (like a
# layer tar) and syncs, then takes a snapshot of the active device (suspend, create_snap, resume).
# It prints seconds and pool data used per case, and ratios against the 64 KiB baseline measured
# in the same run. It also compares eager against lazy inode-table/journal init (pool space after
# mkfs and after mounting for a while). Everything it makes is removed, also on failure.
#
# Env: BENCH_FILES (default 2000 small files), BENCH_SIZES (block sizes in KiB, default "64 128 256 1024").
set -euo pipefail
export DM_DISABLE_UDEV=1
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }
grep -qw device-mapper /proc/misc || { echo "bench: this kernel has no device-mapper (see tests/vm)" >&2; exit 2; }

FILES=${BENCH_FILES:-2000}
SIZES=${BENCH_SIZES:-"64 128 256 1024"}
W=$(mktemp -d /tmp/flyimages-bench-XXXXXX)
TAG=fibench$$
POOL=""; META=""; DATA=""; MNT=$W/mnt
mkdir -p "$MNT"

cleanup() {
  set +e
  mountpoint -q "$MNT" && umount "$MNT"
  for d in $(dmsetup ls 2>/dev/null | awk -v t="$TAG" 'index($1, t) == 1 {print $1}' | sort -r); do
    dmsetup resume "$d" >/dev/null 2>&1; dmsetup remove "$d" >/dev/null 2>&1
  done
  for l in $(losetup -j "$W/meta.img" -O NAME -n 2>/dev/null) $(losetup -j "$W/data.img" -O NAME -n 2>/dev/null); do losetup -d "$l"; done
  rm -rf "$W"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN{printf "%.3f", e-s}'; }
used_data_kib() { # pool -> KiB of data used
  dmsetup status "$1" | awk -v bs="$2" '{split($6, d, "/"); print d[1] * bs}'
}

# the "layer": FILES small files (0.5-16 KiB, random content) in nested folders, as a tar in RAM
SRC=$W/src; mkdir -p "$SRC"
for ((i = 0; i < FILES; i++)); do
  dir=$SRC/d$((i % 50))/e$((i % 7)); mkdir -p "$dir"
  head -c $(( (i * 7919 % 16) * 1024 + 512 )) /dev/urandom > "$dir/f$i"
done
tar -C "$SRC" -cf "$W/layer.tar" .
rm -rf "$SRC"
LAYER_KIB=$(( $(stat -c %s "$W/layer.tar") / 1024 ))
echo "bench: $FILES files, tar of $LAYER_KIB KiB"

make_pool() { # block KiB -> creates $TAG-pool
  rm -f "$W/meta.img" "$W/data.img"
  truncate -s 64M "$W/meta.img"; truncate -s 4G "$W/data.img"
  META=$(losetup -f --show "$W/meta.img"); DATA=$(losetup -f --show "$W/data.img")
  POOL=$TAG-pool
  dmsetup create "$POOL" --table "0 $(blockdev --getsz "$DATA") thin-pool $META $DATA $(( $1 * 2 )) 1024"
}
drop_pool() {
  for d in $(dmsetup ls | awk -v t="$TAG-t" 'index($1, t) == 1 {print $1}'); do dmsetup remove "$d"; done
  dmsetup remove "$POOL"; losetup -d "$META" "$DATA"; rm -f "$W/meta.img" "$W/data.img"
}

declare -A UNPACK SNAP MKFS USED
base=${SIZES%% *}
# the first round warms caches (tar in RAM, binaries, the kernel's slabs) and is not counted
for kib in "warmup:$base" $SIZES; do
  label=$kib; kib=${kib#warmup:}
  make_pool "$kib"
  dmsetup message "$POOL" 0 "create_thin 1"
  dmsetup create "$TAG-t1" --table "0 2097152 thin /dev/mapper/$POOL 1"
  t=$(now); mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "/dev/mapper/$TAG-t1"; MKFS[$kib]=$(since "$t")
  mount -o nosuid,nodev,noatime "/dev/mapper/$TAG-t1" "$MNT"
  t=$(now); tar -C "$MNT" -xf "$W/layer.tar"; sync -f "$MNT"; UNPACK[$kib]=$(since "$t")
  t=$(now)
  dmsetup suspend "$TAG-t1"; dmsetup message "$POOL" 0 "create_snap 2 1"; dmsetup resume "$TAG-t1"
  SNAP[$kib]=$(since "$t")
  umount "$MNT"
  USED[$kib]=$(used_data_kib "$POOL" "$kib")
  [ "$label" != "$kib" ] && { echo "bench: warm-up round done"; drop_pool; continue; }
  echo "bench: block ${kib} KiB: mkfs ${MKFS[$kib]} s, unpack+sync ${UNPACK[$kib]} s, snapshot ${SNAP[$kib]} s, pool data used ${USED[$kib]} KiB"
  drop_pool
done

echo "bench: ratios against ${base} KiB blocks (same run; >1 = slower / more space):"
for kib in $SIZES; do
  awk -v k="$kib" -v u="${UNPACK[$kib]}" -v ub="${UNPACK[$base]}" -v s="${USED[$kib]}" -v sb="${USED[$base]}" -v m="${MKFS[$kib]}" -v mb="${MKFS[$base]}" \
    'BEGIN{printf "  %5d KiB: unpack x%.2f  pool space x%.2f  mkfs x%.2f\n", k, u/ub, s/sb, m/mb}'
done

# eager vs lazy inode table / journal init, 64 KiB blocks: pool space right after mkfs, and after
# a mount during which ext4lazyinit may run (what every snapshot would repeat)
for mode in eager lazy; do
  make_pool 64
  dmsetup message "$POOL" 0 "create_thin 1"
  dmsetup create "$TAG-t1" --table "0 2097152 thin /dev/mapper/$POOL 1"
  opts=nodiscard,lazy_itable_init=0,lazy_journal_init=0
  [ "$mode" = lazy ] && opts=nodiscard
  t=$(now); mkfs.ext4 -q -F -E "$opts" "/dev/mapper/$TAG-t1"; secs=$(since "$t")
  after_mkfs=$(used_data_kib "$POOL" 64)
  mount -o nosuid,nodev,noatime "/dev/mapper/$TAG-t1" "$MNT"; sleep 5; sync -f "$MNT"; umount "$MNT"
  after_mount=$(used_data_kib "$POOL" 64)
  echo "bench: mkfs $mode: ${secs} s, pool data used ${after_mkfs} KiB after mkfs, ${after_mount} KiB after a 5 s mount"
  drop_pool
done
