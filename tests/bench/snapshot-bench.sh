#!/usr/bin/env bash
# Snapshot benchmark (issue 15, goal 6: New-FlyThinSnapshot <= 20 ms in process on a reflink pool).
# One real pwsh process (the pinned dotnet tool, packaged module) installs a small two-layer image from a
# folder source onto a block-file pool on its own reflink XFS, takes one warm-up snapshot, then times
# ROUNDS snapshots (Stopwatch around each New-FlyThinSnapshot, so .NET start-up and JIT are not charged)
# and ROUNDS removals. The baseline, in the same run and on an XFS made the same way: the shell's snapshot,
# `cp --reflink=always` of an image file of the same size + `losetup -f --show`, ROUNDS times.
# Prints each median and the ratio; the goal is FlyImages' median <= 20 ms.
# Needs root (loop devices, mount), mkfs.xfs. ROUNDS=15 tests/bench/snapshot-bench.sh
set -euo pipefail
ROUNDS=${ROUNDS:-15}
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/flyimages-sbench.XXXXXX")
loops=()
cleanup() {
  release_under "$work" 2>/dev/null || true
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "packaging the module..."
package_module
mkdir -p "$work/source/app"
tar -C / -cf "$work/source/app/1.tar" etc 2>/dev/null || true
tar -C / -cf "$work/source/app/2.tar" usr/share/doc 2>/dev/null || true

# --- the shell: cp --reflink + losetup on an XFS with reflink, an image file of the pool's device size
truncate -s 8G "$work/xfs.img"; xl=$(losetup -f --show "$work/xfs.img"); loops+=("$xl"); mkfs.xfs -q -f -K -m reflink=1 "$xl"
mkdir -p "$work/mntx"; mount "$xl" "$work/mntx"
truncate -s 10G "$work/mntx/base.img"; mkfs.ext4 -q -F "$work/mntx/base.img"; sync
shell=()
for i in $(seq 1 "$ROUNDS"); do
  t0=$(now); cp --reflink=always "$work/mntx/base.img" "$work/mntx/s$i.img"; sl=$(losetup -f --show "$work/mntx/s$i.img"); t1=$(now)
  shell+=("$(echo "($t1 - $t0) * 1000" | bc -l)"); loops+=("$sl")
done
release_under "$work/mntx"
umount "$work/mntx"; losetup -d "$xl"; rm -f "$work/xfs.img"

# --- FlyImages, in one pwsh process
store="$work/store"
script="Initialize-FlyThinPool -Name bench -Backend BlockFile -ReflinkFilesystem -DataSize 16GB -StorePath '$store' | Out-Null
Install-FlyImage app -Source '$work/source' -StorePath '$store' | Out-Null
New-FlyThinSnapshot -Image app -Name warm -Source '$work/source' -StorePath '$store' | Out-Null
Remove-FlyThinSnapshot warm -StorePath '$store' -Force
\$sw = [Diagnostics.Stopwatch]::new()
foreach (\$i in 1..$ROUNDS) {
  \$sw.Restart(); New-FlyThinSnapshot -Image app -Name \"s\$i\" -Source '$work/source' -StorePath '$store' | Out-Null; \$sw.Stop()
  'SNAP ' + \$sw.Elapsed.TotalMilliseconds
}
foreach (\$i in 1..$ROUNDS) {
  \$sw.Restart(); Remove-FlyThinSnapshot \"s\$i\" -StorePath '$store' -Force; \$sw.Stop()
  'REMOVE ' + \$sw.Elapsed.TotalMilliseconds
}"
out=$(/usr/bin/time -v -o "$work/time.txt" "${pwsh_cmd[@]}" "$(fly_script "$script")")
peak=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' "$work/time.txt")

ms=$(grep -oE '^SNAP [0-9.]+' <<<"$out" | cut -d' ' -f2 | median)
mf=$(grep -oE '^SNAP [0-9.]+' <<<"$out" | cut -d' ' -f2 | sort -g | head -1)
mr=$(grep -oE '^REMOVE [0-9.]+' <<<"$out" | cut -d' ' -f2 | median)
mh=$(printf '%s\n' "${shell[@]}" | median)
printf 'load: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'shell (cp --reflink + losetup on XFS): median %.1f ms\n' "$mh"
printf 'New-FlyThinSnapshot, reflink pool, in process: median %.1f ms (fastest %.1f ms; goal <= 20 ms); ratio to the shell %.2f\n' "$ms" "$mf" "$(echo "$ms / $mh" | bc -l)"
printf 'Remove-FlyThinSnapshot: median %.1f ms\n' "$mr"
echo "peak RSS $peak MiB"
