#!/usr/bin/env bash
# Where a cold install's time goes (issue 15.1). Each round: a fresh store and block-file pool on its own reflink
# filesystem, one cold Install-FlyImage of the realistic 5-layer image (as install-bench's) from s3rver in a new pwsh,
# with its -Verbose lines timed inside the process (when the pipeline thread writes them). Printed per round: the cold
# install, each layer's apply (from "Applying" to the unpacker's count of entries) and its chain's flush (from there
# to "Unmounted": syncfs, unmount, the checks), when each blob was stored, and the CPU of pwsh (the whole process,
# start-up included) and of s3rver. SHELL_BASELINE=1 also runs install-bench's shell pipeline with its CPU.
# MODULE=<manifest> runs another build (default: this tree, packaged). KEEP=<dir> keeps each round's timed lines.
# Root; ROUNDS=3 LAYER1_MB=150 tests/bench/install-timeline.sh
set -euo pipefail
ROUNDS=${ROUNDS:-3}
LAYER1_MB=${LAYER1_MB:-150}
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/flyimages-timeline.XXXXXX")
server=""
cleanup() {
  release_under "$work" || true
  if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)
cpu_of() { awk -v t="$tick" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }

echo "packaging the module and building the layers..."
if [[ -n "${MODULE:-}" ]]; then
  module=$MODULE; (cd "$repo" && dotnet tool restore >/dev/null); pwsh_cmd=(env -C "$repo" dotnet pwsh -NoProfile -NonInteractive -Command)
else
  package_module
fi
start_s3rver bench
seed_realistic_image "$LAYER1_MB"
echo "image: 5 layers, $((image_bytes / 1048576)) MiB; module $module; $ROUNDS rounds"

for r in $(seq 1 "$ROUNDS"); do
  store="$work/store-$r"
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  script="Initialize-FlyThinPool -Name bench -Backend BlockFile -ReflinkFilesystem -DataSize 16GB -StorePath '$store' | Out-Null
\$sw = [Diagnostics.Stopwatch]::StartNew()
Install-FlyImage app -Source s3://bench/images -Endpoint $endpoint -StorePath '$store' -Verbose 4>&1 | ForEach-Object { 'V {0:F3} {1}' -f \$sw.Elapsed.TotalSeconds, \$_ }
'COLD ' + \$sw.Elapsed.TotalSeconds"
  s3_before=$(cpu_of "$server")
  /usr/bin/time -f 'PWSH %U %S' -o "$work/time.txt" "${pwsh_cmd[@]}" "$(fly_script "$script" "$module")" >"$work/round.txt" 2>&1 \
    || { echo "round $r failed:"; tail -20 "$work/round.txt"; exit 1; }
  s3_cpu=$(echo "$(cpu_of "$server") - $s3_before" | bc -l)
  [[ -n "${KEEP:-}" ]] && mkdir -p "$KEEP" && cp "$work/round.txt" "$KEEP/round-$r.txt"
  read -r _ user sys <"$work/time.txt"
  awk -v r="$r" -v user="$user" -v sys="$sys" -v s3="$s3_cpu" '
    /^V / { t = $2 }
    /^V .* Applying .* onto / { start = t }
    /^V .* entries, .* written/ { if (start != "") { apply[++n] = t - start }; done_at = t; start = "" }
    /^V .* Unmounted / && done_at != "" { flush[n] = t - done_at; flushes += t - done_at; done_at = "" }
    /^V .* stored as sha256:/ { match($0, /app\/[0-9]+\.tar/); blobs = blobs sprintf(" %s %.2f s", substr($0, RSTART + 4, RLENGTH - 4), t) }
    /^COLD / { cold = $2 }
    END {
      printf "round %d: cold %.2f s; pwsh CPU %.2f s (user %.2f, system %.2f), s3rver %.2f s\n", r, cold, user + sys, user, sys, s3
      printf "  blobs stored at:%s\n", blobs
      for (i = 1; i <= n; i++) printf "  layer %d: apply %.2f s, flush %.2f s\n", i, apply[i], flush[i]
      printf "  flushes %.2f s of the cold %.2f s (%.0f %%)\n", flushes, cold, 100 * flushes / cold
    }' "$work/round.txt"
  release_under "$store"
  rm -rf "$store"
done

if [[ -n "${SHELL_BASELINE:-}" ]]; then
  # install-bench's baseline: curl each layer, tar -x onto a fresh loop-mounted ext4, in sequence, no checks
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  s3_before=$(cpu_of "$server")
  /usr/bin/time -f 'SHELL %e %U %S' -o "$work/time.txt" bash -c '
    set -e; w=$1; e=$2
    truncate -s 4G "$w/base.img"; mkfs.ext4 -q -F "$w/base.img"; l=$(losetup -f --show "$w/base.img"); mkdir -p "$w/mnt"; mount "$l" "$w/mnt"
    for i in 1 2 3 4 5; do curl -sf -o "$w/l.tar" "$e/bench/images/app/$i.tar"; tar -xf "$w/l.tar" -C "$w/mnt"; rm -f "$w/l.tar"; done
    umount "$w/mnt"; losetup -d "$l"; rm -f "$w/base.img"' _ "$work" "$endpoint"
  read -r _ wall user sys <"$work/time.txt"
  printf 'shell: %.2f s; CPU %.2f s (user %.2f, system %.2f), s3rver %.2f s\n' "$wall" "$(echo "$user + $sys" | bc -l)" "$user" "$sys" \
    "$(echo "$(cpu_of "$server") - $s3_before" | bc -l)"
fi
