#!/usr/bin/env bash
# Benchmark: FlyImages' layer unpacker against GNU tar (--same-owner -p --xattrs -xf), each onto a
# fresh ext4 file system on its own loop device, same layers, same run, several rounds (the order of
# the two tools alternates). Prints per-round times, the median ratio FlyImages/tar (extract alone,
# and extract + syncfs), the peak RSS of each, and checks once that both trees are identical.
#
# The layer: LAYER=/path/to/layer.tar, or built here from the files of installed Debian packages
# (required/important/standard priorities, then optional packages by name, until LAYER_MB is
# reached): a realistic root file system mix of binaries, libraries, perl/python modules and docs.
# No network is used.
#
# LAYERS=3 (issue 15.5): three realistic layers applied in sequence onto ONE fresh ext4 per tool: the
# base above (LAYER_MB, default 260 then) and two layers above it from build-upper-layers.py (python and
# perl, upgraded files, whiteouts of docs, locales and an icon theme; then etc and dist-packages, an
# opaque folder, __pycache__ whiteouts, changed perl modules), about 450 MB in all. GNU tar knows nothing
# of whiteouts, so the baseline does, per layer and timed with it, what a naive pipeline does: lists the
# layer (tar -t), removes each whiteout's target (rm -rf through xargs, one rm per batch) and empties each
# opaque folder (find | xargs rm -rf), then extracts with --exclude='.wh.*'. FlyImages' runner applies the
# three layers in one process (LayerUnpacker.Apply each). Per-layer and total ratios; the two trees must be
# identical: both apply whiteouts to what the lower layers put there, and neither leaves a .wh. file.
#
# usage: sudo tests/bench/unpack-bench.sh            (ROUNDS=5 LAYER_MB=250 by default)
#        ROUNDS=9 LAYER=/tmp/python-4.tar sudo -E tests/bench/unpack-bench.sh
#        LAYERS=3 ROUNDS=5 sudo -E tests/bench/unpack-bench.sh
#        LAYERS=3 LAYER_DIR=/var/tmp/l3 ...   (reuse base.tar, layer2.tar, layer3.tar; built there if missing)
# needs: root, losetup, mkfs.ext4, GNU tar, dotnet SDK, python3, /usr/bin/time.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
LAYERS=${LAYERS:-1}
if [ "$LAYERS" = 3 ]; then LAYER_MB=${LAYER_MB:-260}; else LAYER_MB=${LAYER_MB:-250}; fi
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
echo "load at the start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs, $(date -u '+%F %T') UTC"

echo "== building the runner (ReadyToRun, tiered compilation off: a one-shot CLI process)"
dotnet publish "$repo/tests/bench/UnpackRunner/UnpackRunner.csproj" -c Release -r linux-x64 --self-contained false \
  -p:PublishReadyToRun=true -o "$work/runner" -v quiet -nologo >/dev/null
runner="$work/runner/UnpackRunner"

layers=()
if [ "$LAYERS" = 3 ]; then
  dir=${LAYER_DIR:-$work/layers}
  mkdir -p "$dir"
  if [ ! -f "$dir/base.tar" ]; then
    echo "== building a ~${LAYER_MB} MB base layer from installed Debian packages"
    "$repo/tests/bench/build-debian-layer.sh" "$dir/base.tar" "$LAYER_MB"
  fi
  if [ ! -f "$dir/layer2.tar" ] || [ ! -f "$dir/layer3.tar" ]; then
    echo "== building the two upper layers"
    python3 "$repo/tests/bench/build-upper-layers.py" "$dir/base.tar" "$dir"
  fi
  layers=("$dir/base.tar" "$dir/layer2.tar" "$dir/layer3.tar")
else
  layer=${LAYER:-}
  if [ -z "$layer" ]; then
    echo "== building a ~${LAYER_MB} MB layer from installed Debian packages"
    layer="$work/layer.tar"
    "$repo/tests/bench/build-debian-layer.sh" "$layer" "$LAYER_MB"
  fi
  layers=("$layer")
fi
nl=${#layers[@]}
for l in "${layers[@]}"; do
  echo "layer: $l ($(( $(stat -c %s "$l") / 1048576 )) MiB, $(tar -tf "$l" | wc -l) entries, $(tar -tf "$l" | grep -cE '(^|/)\.wh\.' || true) whiteouts)"
done

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

# The naive pipeline's whiteouts, before extracting layer $1 onto $2: what the lower layers put at each
# .wh.NAME's NAME goes, an opaque folder (.wh..wh..opq) is emptied. Names come from our own layers.
tar_whiteouts() {
  local layer=$1 mnt=$2
  tar -tf "$layer" | grep -E '(^|/)\.wh\.' > "$work/wh" || true
  [ -s "$work/wh" ] || return 0
  grep -vE '(^|/)\.wh\.\.wh\.\.opq$' "$work/wh" | sed -E 's#(^|/)\.wh\.([^/]*)$#\1\2#' | sed "s#^#$mnt/#" | tr '\n' '\0' | xargs -0 -r rm -rf
  grep -E '(^|/)\.wh\.\.wh\.\.opq$' "$work/wh" | sed -E 's#/?\.wh\.\.wh\.\.opq$##' | while IFS= read -r d; do
    [ -d "$mnt/$d" ] && find "$mnt/$d" -mindepth 1 -maxdepth 1 -print0 | xargs -0 -r rm -rf
  done
  return 0
}

tar_layers() { # mountpoint; per layer "seconds in all" in $work/tar.layers, "seconds of tar -x alone" in $work/tar.x
  : > "$work/tar.layers"; : > "$work/tar.x"
  local l a w b
  for l in "${layers[@]}"; do
    a=$(now)
    if [ "$nl" -gt 1 ]; then
      tar_whiteouts "$l" "$1"
      w=$(now)
      tar --same-owner -p --xattrs --exclude='.wh.*' -xf "$l" -C "$1"
    else
      w=$a
      tar --same-owner -p --xattrs -xf "$l" -C "$1"
    fi
    b=$(now)
    echo "$b - $a" | bc >> "$work/tar.layers"
    echo "$b - $w" | bc >> "$work/tar.x"
  done
}

run_one() { # tool mountpoint -> sets X (extract seconds), T (extract + syncfs seconds), M (peak KiB), C (CPU seconds), E, L (per-layer seconds)
  local tool=$1 mnt=$2 start mid end
  cat "${layers[@]}" > /dev/null # same warm page cache for both
  start=$(now)
  if [ "$tool" = tar ] && [ "$nl" = 1 ]; then
    /usr/bin/time -f '%M %U %S' -o "$work/time" tar --same-owner -p --xattrs -xf "${layers[0]}" -C "$mnt"
    echo "$(now) - $start" | bc | tee "$work/tar.layers" > "$work/tar.x"
  elif [ "$tool" = tar ]; then
    export -f tar_whiteouts tar_layers now; export work nl
    /usr/bin/time -f '%M %U %S' -o "$work/time" bash -c "layers=(\"\$@\"); tar_layers \"$mnt\"" _ "${layers[@]}"
  else
    /usr/bin/time -f '%M %U %S' -o "$work/time" "$runner" "$mnt" "${layers[@]}" > "$work/fly.out"
  fi
  mid=$(now)
  sync -f "$mnt"
  end=$(now)
  X=$(echo "$mid - $start" | bc); T=$(echo "$end - $start" | bc)
  read -r M user sys < <(tail -1 "$work/time")
  C=$(echo "$user + $sys" | bc)
  # the engine's own time (LayerUnpacker.Apply, without process start-up), as in a pwsh session
  if [ "$tool" = fly ]; then
    L=$(sed 's/s .*//' "$work/fly.out" | tr '\n' ' ')
    E=$(echo "$L" | tr ' ' '\n' | awk '{s += $1} END {print s}')
  else
    L=$(tr '\n' ' ' < "$work/tar.layers")
    XL=$(tr '\n' ' ' < "$work/tar.x")
    E=$X
  fi
}

declare -a ratio_x ratio_t ratio_c ratio_e mem_tar mem_fly
declare -A ratio_layer ratio_strict
declare -a ratio_strict_total
printf '%-6s %9s %9s %9s %9s %9s %9s %9s %8s %8s %8s %8s\n' round tar_s fly_s fly_eng tar+sync fly+sync tar_cpu fly_cpu x_ratio eng_ratio t_ratio cpu_ratio
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="tar fly"; else order="fly tar"; fi
  for tool in $order; do
    fresh_fs "$tool"
    run_one "$tool" "$MNT"
    eval "${tool}_x=$X ${tool}_t=$T ${tool}_m=$M ${tool}_c=$C ${tool}_e=$E"
    eval "${tool}_l=(\$L)"
    [ "$tool" = tar ] && eval "tar_xl=(\$XL)"
    if [ "$round" = "$ROUNDS" ]; then continue; fi # the last round's trees are compared below
    release_fs "$tool"
  done
  rx=$(echo "scale=4; $fly_x / $tar_x" | bc); rt=$(echo "scale=4; $fly_t / $tar_t" | bc)
  rc=$(echo "scale=4; $fly_c / $tar_c" | bc); re=$(echo "scale=4; $fly_e / $tar_x" | bc)
  ratio_x+=("$rx"); ratio_t+=("$rt"); ratio_c+=("$rc"); ratio_e+=("$re"); mem_tar+=("$tar_m"); mem_fly+=("$fly_m")
  printf '%-6s %9.3f %9.3f %9.3f %9.3f %9.3f %9.2f %9.2f %8.3f %8.3f %8.3f %8.3f\n' "$round" "$tar_x" "$fly_x" "$fly_e" "$tar_t" "$fly_t" "$tar_c" "$fly_c" "$rx" "$re" "$rt" "$rc"
  if [ "$nl" -gt 1 ]; then
    line="       per layer, tar (of which tar -x alone) / fly engine = ratio (to tar -x alone):"
    xsum=0
    for i in $(seq 0 $((nl - 1))); do
      r=$(echo "scale=4; ${fly_l[$i]} / ${tar_l[$i]}" | bc)
      rs=$(echo "scale=4; ${fly_l[$i]} / ${tar_xl[$i]}" | bc)
      ratio_layer[$i]="${ratio_layer[$i]:-} $r"; ratio_strict[$i]="${ratio_strict[$i]:-} $rs"
      xsum=$(echo "$xsum + ${tar_xl[$i]}" | bc)
      line+=$(printf ' %d: %.3f (%.3f) / %.3f = %.3f (%.3f);' $((i + 1)) "${tar_l[$i]}" "${tar_xl[$i]}" "${fly_l[$i]}" "$r" "$rs")
    done
    ratio_strict_total+=("$(echo "scale=4; $fly_e / $xsum" | bc)")
    echo "$line"
  fi
done

echo "== comparing the last round's trees (content, modes, owners, times, links, xattrs)"
python3 "$repo/tests/bench/compare-trees.py" "$work/tar" "$work/fly" | tail -3
echo "whiteout files left: tar tree $(find "$work/tar" -name '.wh.*' | wc -l), FlyImages tree $(find "$work/fly" -name '.wh.*' | wc -l)"

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
max() { printf '%s\n' "$@" | sort -n | tail -1; }
goal=1.1; [ "$nl" -gt 1 ] && goal=1.0
echo "== result ($ROUNDS rounds, $nl layer(s))"
echo "median ratio FlyImages/tar, extract:        $(median "${ratio_x[@]}")   (goal <= $goal; whole process incl. .NET start-up)"
echo "median ratio FlyImages/tar, engine only:    $(median "${ratio_e[@]}")   (LayerUnpacker.Apply time, as in a pwsh session)"
echo "median ratio FlyImages/tar, extract + sync: $(median "${ratio_t[@]}")"
echo "median ratio FlyImages/tar, CPU (user+sys): $(median "${ratio_c[@]}")"
if [ "$nl" -gt 1 ]; then
  for i in $(seq 0 $((nl - 1))); do
    # shellcheck disable=SC2086
    echo "median ratio layer $((i + 1)), engine / tar: $(median ${ratio_layer[$i]}) (incl. the naive whiteout pass); to tar -x alone: $(median ${ratio_strict[$i]})"
  done
  echo "median ratio, engine / the three tar -x alone (no whiteout pass, so not the same tree: a lower bound for tar): $(median "${ratio_strict_total[@]}")"
fi
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (wall ratios are noisy on a loaded machine)"
echo "peak RSS: FlyImages $(( $(max "${mem_fly[@]}") / 1024 )) MiB (goal <= 128; issue 15.7: <= 256), GNU tar $(( $(max "${mem_tar[@]}") / 1024 )) MiB"
echo "runner: $(cat "$work/fly.out")"
