#!/usr/bin/env bash
# Install benchmark (issue: Install-FlyImage / New-FlyThinSnapshot). Same run, several rounds, medians:
#   cold    Install-FlyImage of a realistic 5-layer image from s3rver onto a fresh block-file pool, against
#           a shell baseline doing the same work without checks: curl each layer, tar -x onto a
#           loop-mounted ext4, sequentially. Goal: ratio <= 0.8 (fetching overlaps unpacking).
#   rerun   Install-FlyImage of the now Ready image: goal <= 2% of the cold time.
#   snap    New-FlyThinSnapshot against the shell's equivalent on the same backend (reflink copy of the
#           image file + losetup): goal <= 1.5x.
# FlyImages runs in one FlyImages.Host process per round; times are taken inside it (Stopwatch around
# each cmdlet), so .NET start-up (reported apart as "wall") is not charged to the cmdlets.
# Needs root (loop devices, mount), node, curl, mkfs.ext4. ROUNDS=3 LAYER1_MB=150 tests/bench/install-bench.sh
set -euo pipefail
ROUNDS=${ROUNDS:-3}
LAYER1_MB=${LAYER1_MB:-150}
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/flyimages-ibench.XXXXXX")
server=""; loops=()
cleanup() {
  for m in "$work"/mnt*; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "building the host and the layers..."
dotnet build "$repo/FlyImages.Host/FlyImages.Host.csproj" -c Release -o "$work/host" -v quiet -nologo >/dev/null
mkdir -p "$work/layers"
bash "$repo/tests/bench/build-debian-layer.sh" "$work/layers/1.tar" "$LAYER1_MB" >/dev/null
tar -C / -cf "$work/layers/2.tar" usr/share/perl usr/lib/python3 2>/dev/null || true
tar -C / -cf "$work/layers/3.tar" usr/lib/gcc 2>/dev/null || true
tar -C / -cf "$work/layers/4.tar" usr/share/doc 2>/dev/null || true
tar -C / -cf "$work/layers/5.tar" etc 2>/dev/null || true
total=$(du -cb "$work"/layers/*.tar | tail -1 | cut -f1)

start_s3rver bench
for i in 1 2 3 4 5; do curl -sf -T "$work/layers/$i.tar" "$endpoint/bench/images/app/$i.tar" >/dev/null; done
rm -rf "$work/layers"
echo "image: 5 layers, $((total / 1048576)) MiB, at $endpoint/bench/images/app; $ROUNDS rounds"

base=(); cold=(); rerun=(); snap=(); shsnap=(); wall=(); peak=()
for r in $(seq 1 "$ROUNDS"); do
  # --- shell baseline: curl + tar -x onto a fresh loop-mounted ext4, sequentially, no checks
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  t0=$(now)
  truncate -s 4G "$work/base.img"; mkfs.ext4 -q -F "$work/base.img"
  loop=$(losetup -f --show "$work/base.img"); loops+=("$loop"); mkdir -p "$work/mnt"; mount "$loop" "$work/mnt"
  for i in 1 2 3 4 5; do curl -sf -o "$work/l.tar" "$endpoint/bench/images/app/$i.tar"; tar -xf "$work/l.tar" -C "$work/mnt"; rm -f "$work/l.tar"; done
  umount "$work/mnt"; losetup -d "$loop"; loops=("${loops[@]/$loop}")
  t1=$(now); base+=("$(echo "$t1 - $t0" | bc -l)")
  # the shell's "snapshot" on the same backend: reflink (or sparse) copy + loop device
  t0=$(now); cp --reflink=auto --sparse=always "$work/base.img" "$work/snap.img"; sl=$(losetup -f --show "$work/snap.img"); t1=$(now)
  shsnap+=("$(echo "$t1 - $t0" | bc -l)"); losetup -d "$sl"; rm -f "$work/base.img" "$work/snap.img"

  # --- FlyImages: fresh store and block-file pool, then cold install, rerun, snapshot
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  store="$work/store-$r"
  script="Initialize-FlyThinPool -Name bench -Backend BlockFile -DataSize 16GB -StorePath '$store' | Out-Null
\$sw = [Diagnostics.Stopwatch]::StartNew()
Install-FlyImage app -Source s3://bench/images -Endpoint $endpoint -StorePath '$store' | Out-Null
'COLD ' + \$sw.Elapsed.TotalSeconds
\$sw.Restart()
Install-FlyImage app -Source s3://bench/images -Endpoint $endpoint -StorePath '$store' | Out-Null
'RERUN ' + \$sw.Elapsed.TotalSeconds
\$sw.Restart()
New-FlyThinSnapshot -Image app -Name s1 -Source s3://bench/images -StorePath '$store' | Out-Null
'SNAP ' + \$sw.Elapsed.TotalSeconds
Remove-FlyThinSnapshot s1 -StorePath '$store' -Force"
  t0=$(now)
  out=$(/usr/bin/time -v -o "$work/time.txt" dotnet "$work/host/FlyImages.Host.dll" -NonInteractive -Command "$script")
  t1=$(now)
  cold+=("$(grep -oE '^COLD [0-9.]+' <<<"$out" | cut -d' ' -f2)")
  rerun+=("$(grep -oE '^RERUN [0-9.]+' <<<"$out" | cut -d' ' -f2)")
  snap+=("$(grep -oE '^SNAP [0-9.]+' <<<"$out" | cut -d' ' -f2)")
  wall+=("$(echo "$t1 - $t0" | bc -l)")
  peak+=("$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' "$work/time.txt")")
  rm -rf "$store"
  printf 'round %d: shell %.2f s | FlyImages cold %.2f s (process wall %.2f s), rerun %.3f s, snapshot %.3f s vs shell %.3f s, peak %s MiB\n' \
    "$r" "${base[-1]}" "${cold[-1]}" "${wall[-1]}" "${rerun[-1]}" "${snap[-1]}" "${shsnap[-1]}" "${peak[-1]}"
done

mb=$(printf '%s\n' "${base[@]}" | median); mc=$(printf '%s\n' "${cold[@]}" | median); mr=$(printf '%s\n' "${rerun[@]}" | median)
ms=$(printf '%s\n' "${snap[@]}" | median); mh=$(printf '%s\n' "${shsnap[@]}" | median); mw=$(printf '%s\n' "${wall[@]}" | median)
printf 'median: cold install / shell = %.2f (goal <= 0.8; with .NET start-up %.2f); rerun / cold = %.2f%% (goal <= 2%%); snapshot / shell = %.2f (goal <= 1.5); peak RSS %s MiB\n' \
  "$(echo "$mc / $mb" | bc -l)" "$(echo "$mw / $mb" | bc -l)" "$(echo "100 * $mr / $mc" | bc -l)" "$(echo "$ms / $mh" | bc -l)" "$(printf '%s\n' "${peak[@]}" | sort -n | tail -1)"
