#!/usr/bin/env bash
# Install benchmark (issue: Install-FlyImage / New-FlyThinSnapshot). Same run, several rounds, medians:
#   cold    Install-FlyImage of a realistic 5-layer image from s3rver onto a fresh block-file pool, against
#           a shell baseline doing the same work without checks: curl each layer, tar -x onto a
#           loop-mounted ext4, sequentially. Goal: ratio <= 0.8 (fetching overlaps unpacking).
#   rerun   Install-FlyImage of the now Ready image: goal <= 2% of the cold time.
#   snap    New-FlyThinSnapshot against the shell's equivalent on the same backend (reflink copy of the
#           image file + losetup): goal <= 1.5x.
# FlyImages runs in one real pwsh process (the pinned dotnet tool, packaged module) per round; times are taken inside it (Stopwatch around
# each cmdlet), so .NET start-up (reported apart as "wall") is not charged to the cmdlets.
# Needs root (loop devices, mount), node, curl, mkfs.ext4, mkfs.xfs. ROUNDS=3 LAYER1_MB=150 tests/bench/install-bench.sh
# Same-run comparisons on the reflink pool, each round, interleaved with the others (even rounds in reverse order):
#   BASE=<commit>              the module as it was at that commit ("base"); BASE_POOL=plain puts it in a plain folder
#   ALT_ARGS='-LayerConcurrency 1'  this module with extra Install-FlyImage/Save-FlyImage arguments ("alt")
set -euo pipefail
ROUNDS=${ROUNDS:-3}
LAYER1_MB=${LAYER1_MB:-150}
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/flyimages-ibench.XXXXXX")
server=""; loops=()
cleanup() {
  for m in "$work"/mntx "$work"/mnt; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "packaging the module and building the layers..."
package_module
variants=(plain reflink)
if [[ -n "${BASE:-}" ]]; then
  base_module=$(package_commit "$BASE" "$work/base")
  variants+=(base)
fi
if [[ -n "${ALT_ARGS:-}" ]]; then variants+=(alt); fi
start_s3rver bench
seed_realistic_image "$LAYER1_MB"
echo "image: 5 layers, $((image_bytes / 1048576)) MiB, at $endpoint/bench/images/app; $ROUNDS rounds"

save_plain=(); save_reflink=(); cold_base=(); rerun_base=(); snap_base=(); wall_base=(); save_base=(); cold_alt=(); rerun_alt=(); snap_alt=(); wall_alt=(); save_alt=(); base=(); shsnap=(); shsnapx=(); peak=(); cold_plain=(); rerun_plain=(); snap_plain=(); wall_plain=(); cold_reflink=(); rerun_reflink=(); snap_reflink=(); wall_reflink=()
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
  shsnap+=("$(echo "$t1 - $t0" | bc -l)"); losetup -d "$sl"; rm -f "$work/snap.img"
  # ... and on an XFS with reflink, the shell's match for a pool on its own reflink filesystem (setup untimed)
  truncate -s 8G "$work/xfs.img"; xl=$(losetup -f --show "$work/xfs.img"); loops+=("$xl"); mkfs.xfs -q -f -K -m reflink=1 "$xl"
  mkdir -p "$work/mntx"; mount "$xl" "$work/mntx"; cp --sparse=always "$work/base.img" "$work/mntx/base.img"; sync
  t0=$(now); cp --reflink=always "$work/mntx/base.img" "$work/mntx/snap.img"; sl=$(losetup -f --show "$work/mntx/snap.img"); t1=$(now)
  shsnapx+=("$(echo "$t1 - $t0" | bc -l)"); losetup -d "$sl"; umount "$work/mntx"; losetup -d "$xl"; loops=("${loops[@]/$xl}"); rm -f "$work/xfs.img" "$work/base.img"

  # --- FlyImages: fresh store and block-file pool, then cold install, rerun, snapshot; once with the
  # device images in a plain folder of the host's filesystem, once on the pool's own reflink filesystem
  # even rounds run the variants in reverse order, so no variant always follows the same one
  order=("${variants[@]}"); if (( r % 2 == 0 )); then order=(); for ((i=${#variants[@]}-1; i>=0; i--)); do order+=("${variants[i]}"); done; fi
  for mode in "${order[@]}"; do
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    store="$work/store-$r-$mode"
    [[ $mode == plain || ( $mode == base && ${BASE_POOL:-reflink} == plain ) ]] && poolargs="-ReflinkFilesystem:\$false" || poolargs="-ReflinkFilesystem"
    manifest=$module; args=""
    [[ $mode == base ]] && manifest=$base_module
    [[ $mode == alt ]] && args=$ALT_ARGS
    script="Initialize-FlyThinPool -Name bench -Backend BlockFile $poolargs -DataSize 16GB -StorePath '$store' | Out-Null
\$sw = [Diagnostics.Stopwatch]::StartNew()
Install-FlyImage app -Source s3://bench/images -Endpoint $endpoint -StorePath '$store' $args | Out-Null
'COLD ' + \$sw.Elapsed.TotalSeconds
\$sw.Restart()
Install-FlyImage app -Source s3://bench/images -Endpoint $endpoint -StorePath '$store' | Out-Null
'RERUN ' + \$sw.Elapsed.TotalSeconds
\$sw.Restart()
New-FlyThinSnapshot -Image app -Name s1 -Source s3://bench/images -StorePath '$store' | Out-Null
'SNAP ' + \$sw.Elapsed.TotalSeconds
Remove-FlyThinSnapshot s1 -StorePath '$store' -Force
\$sw.Restart()
Save-FlyImage app -Source s3://bench/images -Endpoint $endpoint -StorePath '$store-save' $args | Out-Null
'SAVE ' + \$sw.Elapsed.TotalSeconds"
    t0=$(now)
    out=$(/usr/bin/time -v -o "$work/time.txt" "${pwsh_cmd[@]}" "$(fly_script "$script" "$manifest")")
    t1=$(now)
    # the pool (and, in reflink mode, its filesystem) goes with the store
    release_under "$store"
    rm -rf "$store" "$store-save"
    eval "cold_$mode+=(\"$(grep -oE '^COLD [0-9.]+' <<<"$out" | cut -d' ' -f2)\")"
    eval "rerun_$mode+=(\"$(grep -oE '^RERUN [0-9.]+' <<<"$out" | cut -d' ' -f2)\")"
    eval "snap_$mode+=(\"$(grep -oE '^SNAP [0-9.]+' <<<"$out" | cut -d' ' -f2)\")"
    eval "save_$mode+=(\"$(grep -oE '^SAVE [0-9.]+' <<<"$out" | cut -d' ' -f2)\")"
    eval "wall_$mode+=(\"$(echo "$t1 - $t0" | bc -l)\")"
    rss=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' "$work/time.txt")
    peak+=("$rss"); eval "peak_$mode=\$(( \${peak_$mode:-0} > rss ? \${peak_$mode:-0} : rss ))"
  done
  printf 'round %d: shell %.2f s (snapshot %.3f s, on XFS %.3f s) | FlyImages plain folder: cold %.2f s (process %.2f s), rerun %.3f s, snapshot %.3f s | own reflink filesystem: cold %.2f s (process %.2f s), rerun %.3f s, snapshot %.3f s\n' \
    "$r" "${base[-1]}" "${shsnap[-1]}" "${shsnapx[-1]}" "${cold_plain[-1]}" "${wall_plain[-1]}" "${rerun_plain[-1]}" "${snap_plain[-1]}" "${cold_reflink[-1]}" "${wall_reflink[-1]}" "${rerun_reflink[-1]}" "${snap_reflink[-1]}"
  if [[ -n "${BASE:-}" ]]; then printf 'round %d: base (%s) on %s: cold %.2f s, save %.2f s\n' "$r" "$BASE" "${BASE_POOL:-reflink}" "${cold_base[-1]}" "${save_base[-1]}"; fi
  if [[ -n "${ALT_ARGS:-}" ]]; then printf 'round %d: alt (%s) on its own reflink filesystem: cold %.2f s, save %.2f s\n' "$r" "$ALT_ARGS" "${cold_alt[-1]}" "${save_alt[-1]}"; fi
done

mb=$(printf '%s\n' "${base[@]}" | median)
for mode in "${variants[@]}"; do
  # each snapshot against the shell's on the same kind of storage: the host's filesystem, or an XFS with reflink
  [[ $mode == plain || ( $mode == base && ${BASE_POOL:-reflink} == plain ) ]] && mh=$(printf '%s\n' "${shsnap[@]}" | median) || mh=$(printf '%s\n' "${shsnapx[@]}" | median)
  label=$mode; [[ $mode == base ]] && label="base $BASE (${BASE_POOL:-reflink})"; [[ $mode == alt ]] && label="reflink $ALT_ARGS"
  eval 'mc=$(printf "%s\n" "${cold_'$mode'[@]}" | median); mr=$(printf "%s\n" "${rerun_'$mode'[@]}" | median); ms=$(printf "%s\n" "${snap_'$mode'[@]}" | median); mw=$(printf "%s\n" "${wall_'$mode'[@]}" | median)'
  eval 'mv=$(printf "%s\n" "${save_'$mode'[@]}" | median)'
  # where the cold install's time goes: the download alone (Save-FlyImage: fetch, verify, store), and what is left
  # (applying the layers not hidden behind the download, chain devices, bookkeeping)
  printf 'median, %s: cold %.2f s = download alone (Save-FlyImage) %.2f s + the rest %.2f s; shell %.2f s\n' "$label" "$mc" "$mv" "$(echo "$mc - $mv" | bc -l)" "$mb"
  printf 'median, %s: cold install / shell = %.2f (goal <= 0.8; with .NET start-up %.2f); rerun / cold = %.2f%% (goal <= 2%%); snapshot / shell = %.2f (goal <= 1.5)\n' \
    "$label" "$(echo "$mc / $mb" | bc -l)" "$(echo "$mw / $mb" | bc -l)" "$(echo "100 * $mr / $mc" | bc -l)" "$(echo "$ms / $mh" | bc -l)"
done
echo "peak RSS $(printf '%s\n' "${peak[@]}" | sort -n | tail -1) MiB (by variant:$(for mode in "${variants[@]}"; do eval 'printf " %s %s" "$mode" "$peak_'$mode'"'; done))"
