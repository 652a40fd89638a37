#!/usr/bin/env bash
# Benchmark: FlyImages' layer unpacker against GNU tar (--same-owner -p --xattrs -xf), each onto a
# fresh ext4 file system on its own loop device, same layer, same run, several rounds (the order of
# the two tools alternates). Prints per-round times, the median ratio FlyImages/tar (extract alone,
# and extract + syncfs), the peak RSS of each, and checks once that both trees are identical.
#
# The layer: LAYER=/path/to/layer.tar, or built here from the files of installed Debian packages
# (required/important/standard priorities, then optional packages by name, until LAYER_MB is
# reached): a realistic root file system mix of binaries, libraries, perl/python modules and docs.
# No network is used.
#
# usage: sudo tests/bench/unpack-bench.sh            (ROUNDS=5 LAYER_MB=250 by default)
#        ROUNDS=9 LAYER=/tmp/python-4.tar sudo -E tests/bench/unpack-bench.sh
# needs: root, losetup, mkfs.ext4, GNU tar, dotnet SDK, python3, /usr/bin/time.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
LAYER_MB=${LAYER_MB:-250}
FS_SIZE=${FS_SIZE:-4G}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/flyimages-bench-XXXXXXXX)
mounts=()
loops=()

cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "needs root (loop devices, mount)" >&2; exit 2; }

echo "== building the runner (ReadyToRun, tiered compilation off: a one-shot CLI process)"
dotnet publish "$repo/tests/bench/UnpackRunner/UnpackRunner.csproj" -c Release -r linux-x64 --self-contained false \
  -p:PublishReadyToRun=true -o "$work/runner" -v quiet -nologo >/dev/null
runner="$work/runner/UnpackRunner"

layer=${LAYER:-}
if [ -z "$layer" ]; then
  echo "== building a ~${LAYER_MB} MB layer from installed Debian packages"
  layer="$work/layer.tar"
  "$repo/tests/bench/build-debian-layer.sh" "$layer" "$LAYER_MB"
fi
layer_bytes=$(stat -c %s "$layer")
echo "layer: $layer ($((layer_bytes / 1048576)) MiB, $(tar -tf "$layer" | wc -l) entries)"

fresh_fs() { # name -> sets MNT (not in a subshell: the cleanup lists must see the new device)
  local img="$work/$1.img" mnt="$work/$1"
  rm -f "$img"; truncate -s "$FS_SIZE" "$img"
  mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$img"
  local dev; dev=$(losetup --find --show "$img"); loops+=("$dev")
  mkdir -p "$mnt"; mount -t ext4 "$dev" "$mnt"; mounts+=("$mnt")
  MNT=$mnt
}

release_fs() { # name
  local mnt="$work/$1"
  umount "$mnt"
  local dev; dev=$(losetup -j "$work/$1.img" | cut -d: -f1)
  losetup -d "$dev"
  rm -f "$work/$1.img"
}

now() { date +%s.%N; }

run_one() { # tool mountpoint -> sets X (extract seconds), T (extract + syncfs seconds), M (peak KiB), C (CPU seconds)
  local tool=$1 mnt=$2 start mid end
  cat "$layer" > /dev/null # same warm page cache for both
  start=$(now)
  if [ "$tool" = tar ]; then
    /usr/bin/time -f '%M %U %S' -o "$work/time" tar --same-owner -p --xattrs -xf "$layer" -C "$mnt"
  else
    /usr/bin/time -f '%M %U %S' -o "$work/time" "$runner" "$mnt" "$layer" > "$work/fly.out"
  fi
  mid=$(now)
  sync -f "$mnt"
  end=$(now)
  X=$(echo "$mid - $start" | bc); T=$(echo "$end - $start" | bc)
  read -r M user sys < <(tail -1 "$work/time")
  C=$(echo "$user + $sys" | bc)
  # the engine's own time (LayerUnpacker.Apply, without process start-up), as in a pwsh session
  E=$X
  if [ "$tool" = fly ]; then E=$(head -1 "$work/fly.out" | sed 's/s .*//'); fi
}

declare -a ratio_x ratio_t ratio_c ratio_e mem_tar mem_fly
printf '%-6s %9s %9s %9s %9s %9s %9s %9s %8s %8s %8s %8s\n' round tar_s fly_s fly_eng tar+sync fly+sync tar_cpu fly_cpu x_ratio eng_ratio t_ratio cpu_ratio
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="tar fly"; else order="fly tar"; fi
  for tool in $order; do
    fresh_fs "$tool"
    run_one "$tool" "$MNT"
    eval "${tool}_x=$X ${tool}_t=$T ${tool}_m=$M ${tool}_c=$C ${tool}_e=$E"
    if [ "$round" = "$ROUNDS" ]; then continue; fi # the last round's trees are compared below
    release_fs "$tool"
  done
  rx=$(echo "scale=4; $fly_x / $tar_x" | bc); rt=$(echo "scale=4; $fly_t / $tar_t" | bc)
  rc=$(echo "scale=4; $fly_c / $tar_c" | bc); re=$(echo "scale=4; $fly_e / $tar_x" | bc)
  ratio_x+=("$rx"); ratio_t+=("$rt"); ratio_c+=("$rc"); ratio_e+=("$re"); mem_tar+=("$tar_m"); mem_fly+=("$fly_m")
  printf '%-6s %9.3f %9.3f %9.3f %9.3f %9.3f %9.2f %9.2f %8.3f %8.3f %8.3f %8.3f\n' "$round" "$tar_x" "$fly_x" "$fly_e" "$tar_t" "$fly_t" "$tar_c" "$fly_c" "$rx" "$re" "$rt" "$rc"
done

echo "== comparing the last round's trees (content, modes, owners, times, links, xattrs)"
python3 "$repo/tests/bench/compare-trees.py" "$work/tar" "$work/fly" | tail -3

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
max() { printf '%s\n' "$@" | sort -n | tail -1; }
echo "== result ($ROUNDS rounds)"
echo "median ratio FlyImages/tar, extract:        $(median "${ratio_x[@]}")   (goal <= 1.1; whole process incl. .NET start-up)"
echo "median ratio FlyImages/tar, engine only:    $(median "${ratio_e[@]}")   (LayerUnpacker.Apply time, as in a pwsh session)"
echo "median ratio FlyImages/tar, extract + sync: $(median "${ratio_t[@]}")"
echo "median ratio FlyImages/tar, CPU (user+sys): $(median "${ratio_c[@]}")"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (wall ratios are noisy on a loaded machine)"
echo "peak RSS: FlyImages $(( $(max "${mem_fly[@]}") / 1024 )) MiB (goal <= 128), GNU tar $(( $(max "${mem_tar[@]}") / 1024 )) MiB"
echo "runner: $(cat "$work/fly.out")"
