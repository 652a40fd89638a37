#!/usr/bin/env bash
# Scale benchmark (issue 15.8: every per-image cost stays flat as the store grows). For each size N (default
# 20 80 320), in one real pwsh process (the pinned dotnet tool, packaged module) on a fresh store and block-file
# pool, over a folder source of N images of three layers that share the lower two (hard links: same bytes,
# same ETag, so every image's chains 1-2 are the same two chains):
#   install    Get-FlyImage | Install-FlyImage   (cold: N top chains, two shared ones)
#   rerun      the same pipeline again, every image Ready (also shown: Get-FlyImage alone, and
#              Install-FlyImage of one named Ready image: one store lookup and one listing of its own prefix)
#   installed  Get-FlyImage -Installed
#   events     Get-FlyImageEvent (every journal row)
# Times are taken inside pwsh (Stopwatch around each pipeline; the read-only ones are run 3 times and the fastest
# kept, as the load of a shared machine comes and goes), so .NET start-up is not charged; the figures are
# milliseconds per image, and the ratio of the per-image cost at the largest N to the smallest (flat: ~1).
# Needs root (loop devices, mount). SIZES="20 80" tests/bench/scale-bench.sh
set -euo pipefail
SIZES=${SIZES:-"20 80 320"}
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/flyimages-sbench.XXXXXX")
cleanup() {
  for s in "$work"/store-*; do [[ -d $s ]] && { release_under "$s" || true; }; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "packaging the module..."
package_module

# two shared lower layers (a few MiB of real files) and one small layer of its own per image
mkdir -p "$work/layers"
tar -C / -cf "$work/layers/1.tar" etc 2>/dev/null || true
tar -C / -cf "$work/layers/2.tar" usr/share/perl 2>/dev/null || tar -C / -cf "$work/layers/2.tar" usr/share/common-licenses
max=0; for n in $SIZES; do (( n > max )) && max=$n; done
for i in $(seq 1 "$max"); do
  d="$work/src/img-$(printf '%04d' "$i")"
  mkdir -p "$d" "$work/own/$i/app"
  ln "$work/layers/1.tar" "$d/1.tar"; ln "$work/layers/2.tar" "$d/2.tar"
  echo "image $i" > "$work/own/$i/app/id"
  tar -C "$work/own/$i" -cf "$d/3.tar" app
done
echo "layers: $(du -b "$work/layers/1.tar" | cut -f1) + $(du -b "$work/layers/2.tar" | cut -f1) bytes shared, one small layer per image"

declare -A per
for n in $SIZES; do
  # the first n images, as a source of their own
  src="$work/src-$n"; mkdir -p "$src"
  for d in $(ls "$work/src" | head -n "$n"); do cp -al "$work/src/$d" "$src/$d"; done
  store="$work/store-$n"
  script="Initialize-FlyThinPool -Name bench -Backend BlockFile -ReflinkFilesystem:\$false -DataSize 32GB -StorePath '$store' | Out-Null
\$sw = [Diagnostics.Stopwatch]::StartNew()
Get-FlyImage -Source '$src' -StorePath '$store' | Install-FlyImage -DeviceSize 256MB -StorePath '$store' | Out-Null
'INSTALL ' + \$sw.Elapsed.TotalMilliseconds
# each read-only measure 3 times, the fastest kept: the machine's load comes and goes, a store's cost does not
function Fastest([scriptblock] \$work) { (1..3 | ForEach-Object { \$w = [Diagnostics.Stopwatch]::StartNew(); & \$work | Out-Null; \$w.Elapsed.TotalMilliseconds } | Measure-Object -Minimum).Minimum }
'RERUN ' + (Fastest { Get-FlyImage -Source '$src' -StorePath '$store' | Install-FlyImage -DeviceSize 256MB -StorePath '$store' })
'LIST ' + (Fastest { Get-FlyImage -Source '$src' -StorePath '$store' })
'ONE ' + (Fastest { Install-FlyImage img-0001 -Source '$src' -StorePath '$store' })
'INSTALLED ' + (Fastest { Get-FlyImage -Installed -StorePath '$store' })
\$c = @(Get-FlyImage -Installed -StorePath '$store').Count
if (\$c -ne $n) { throw \"\$c images installed, not $n\" }
'EVENTS ' + (Fastest { Get-FlyImageEvent -StorePath '$store' })
\$e = @(Get-FlyImageEvent -StorePath '$store').Count
'ROWS ' + \$e"
  out=$("${pwsh_cmd[@]}" "$(fly_script "$script")")
  release_under "$store" || true; rm -rf "$store" "$src"
  line="N=$n:"
  for k in INSTALL RERUN INSTALLED EVENTS; do
    ms=$(grep -oE "^$k [0-9.]+" <<<"$out" | cut -d' ' -f2)
    per[$k,$n]=$(echo "$ms / $n" | bc -l)
    line+=$(printf ' %s %.0f ms (%.2f ms/image)' "$(tr '[:upper:]' '[:lower:]' <<<"$k")" "$ms" "${per[$k,$n]}")
  done
  echo "$line; $(grep -oE '^ROWS [0-9]+' <<<"$out" | cut -d' ' -f2) journal rows; Get-FlyImage alone $(grep -oE '^LIST [0-9]+' <<<"$out" | cut -d' ' -f2) ms; Install-FlyImage of one Ready image $(grep -oE '^ONE [0-9]+' <<<"$out" | cut -d' ' -f2) ms"
done

first=${SIZES%% *}; last=${SIZES##* }
line="per-image cost at N=$last / N=$first (flat ~1, linear growth ~$((last / first))):"
for k in INSTALL RERUN INSTALLED EVENTS; do
  line+=$(printf ' %s %.2f' "$(tr '[:upper:]' '[:lower:]' <<<"$k")" "$(echo "${per[$k,$last]} / ${per[$k,$first]}" | bc -l)")
done
echo "$line"
