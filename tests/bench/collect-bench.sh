#!/usr/bin/env bash
# Collection benchmark (issue 13: image lifecycle). For N = 25, 50, 100 (SIZES="25 50 100"): a fresh store with a
# block-file pool, N images from a folder source that share their two lower layers (so their lower two layer chains)
# and each have one small layer of its own, installed in one Install-FlyImage; then, timed inside the same real pwsh
# process (the pinned dotnet tool, packaged module):
#   remove   Get-FlyImage -Installed | Remove-FlyImage -Force: every image removed (the last one takes the shared chains)
#   collect  the N images installed again, then Limit-FlyImageStore -MinimumAge 0 -MaximumAge 1s: the policy takes all
# Reported: ms per image for each, and the ratio of each N's ms per image to the smallest N's (the baseline, same run):
# about 1.0 at every N means the cost grows linearly with N; above it, it grows faster.
# Needs root (loop devices, mount), mkfs.xfs. SIZES="25 50 100" tests/bench/collect-bench.sh
set -euo pipefail
SIZES=${SIZES:-"25 50 100"}
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/flyimages-cbench.XXXXXX")
store=""
cleanup() {
  if [[ -n "$store" && -d "$store" ]]; then
    "${pwsh_cmd[@]}" "$(fly_script "Get-FlyThinPool -StorePath '$store' -ErrorAction SilentlyContinue | Remove-FlyThinPool -StorePath '$store' -Force")" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "packaging the module and building the layers..."
package_module
max=$(printf '%s\n' $SIZES | sort -n | tail -1)
src="$work/source"
mkdir -p "$work/layers/1" "$work/layers/2"
head -c $((2 << 20)) /dev/urandom >"$work/layers/1/base.bin"
head -c $((1 << 20)) /dev/urandom >"$work/layers/2/runtime.bin"
tar -C "$work/layers/1" -cf "$work/1.tar" .
tar -C "$work/layers/2" -cf "$work/2.tar" .
for i in $(seq 1 "$max"); do
  d="$src/img$i"; mkdir -p "$d" "$work/layers/top$i"
  cp "$work/1.tar" "$d/1.tar"; cp "$work/2.tar" "$d/2.tar"
  head -c 65536 /dev/urandom >"$work/layers/top$i/app.bin"
  tar -C "$work/layers/top$i" -cf "$d/3.tar" .
done
rm -rf "$work/layers"
echo "source: $max images of 3 layers (2 MiB + 1 MiB shared, 64 KiB own) in $src"

declare -A remove_ms collect_ms
for n in $SIZES; do
  store="$work/store$n"
  # shellcheck disable=SC2016
  out=$("${pwsh_cmd[@]}" "$(fly_script "
    \$store = '$store'; \$src = '$src'; \$names = 1..$n | ForEach-Object { \"img\$_\" }
    Initialize-FlyThinPool -Name bench -Backend BlockFile -DataSize 8GB -StorePath \$store | Out-Null
    Install-FlyImage \$names -Source \$src -StorePath \$store -DeviceSize 64MB | Out-Null
    if ((Get-FlyImage -Installed -StorePath \$store | Where-Object State -eq Ready).Count -ne $n) { throw 'not every image installed' }
    \$remove = Measure-Command { Get-FlyImage -Installed -StorePath \$store | Remove-FlyImage -Force -StorePath \$store | Out-Null }
    if ((Get-FlyImage -Installed -StorePath \$store).Count -ne 0) { throw 'Remove-FlyImage left images' }
    Install-FlyImage \$names -Source \$src -StorePath \$store -DeviceSize 64MB | Out-Null
    Start-Sleep -Seconds 2
    \$collect = Measure-Command { \$r = Limit-FlyImageStore -MinimumAge 0 -MaximumAge 00:00:01 -Force -StorePath \$store }
    if (\$r.Images.Count -ne $n -or (Get-FlyImage -Installed -StorePath \$store).Count -ne 0) { throw \"the collection took \$(\$r.Images.Count) of $n\" }
    if ((Get-FlyImageEvent -Kind lifecycle -StorePath \$store).Count -lt 2 * $n + 1) { throw 'lifecycle entries missing' }
    'RESULT {0:0.0} {1:0.0}' -f \$remove.TotalMilliseconds, \$collect.TotalMilliseconds
    Get-FlyThinPool -StorePath \$store | Remove-FlyThinPool -StorePath \$store -Force -ErrorAction Continue
  ")") || true
  line=$(grep '^RESULT ' <<<"$out") || { echo "N=$n failed: $out" >&2; exit 1; }
  grep -v '^RESULT ' <<<"$out" || true
  read -r _ r c <<<"$line"
  remove_ms[$n]=$r; collect_ms[$n]=$c
  rm -rf "$store"; store=""
  echo "N=$n: remove ${r} ms, collect ${c} ms"
done

first=$(printf '%s\n' $SIZES | sort -n | head -1)
base_r=$(echo "${remove_ms[$first]} / $first" | bc -l); base_c=$(echo "${collect_ms[$first]} / $first" | bc -l)
printf '\n%-6s %12s %12s %8s %14s %8s\n' N "remove ms" "ms/image" ratio "collect ms/img" ratio
for n in $SIZES; do
  pr=$(echo "${remove_ms[$n]} / $n" | bc -l); pc=$(echo "${collect_ms[$n]} / $n" | bc -l)
  printf '%-6s %12.0f %12.1f %8.2f %14.1f %8.2f\n' "$n" "${remove_ms[$n]}" "$pr" "$(echo "$pr / $base_r" | bc -l)" "$pc" "$(echo "$pc / $base_c" | bc -l)"
done
echo "load: $(uptime)"
