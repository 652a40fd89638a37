# Shared by the benchmark scripts (source it; needs $repo and $work).

# start_s3rver BUCKET: starts s3rver (tests/s3rver, npm ci if needed) on 127.0.0.1 with a random port,
# storing under $work/s3; sets $server (its PID, for the caller's cleanup) and $endpoint.
start_s3rver() {
  local bucket=$1 port=""
  [[ -f "$repo/tests/s3rver/node_modules/s3rver/bin/s3rver.js" ]] || (cd "$repo/tests/s3rver" && npm ci --no-audit --no-fund >/dev/null)
  mkdir -p "$work/s3"
  (cd "$repo/tests/s3rver" && exec node --openssl-legacy-provider node_modules/s3rver/bin/s3rver.js \
    -d "$work/s3" -a 127.0.0.1 -p 0 --silent --configure-bucket "$bucket") >"$work/s3rver.out" 2>&1 &
  server=$!
  for _ in $(seq 1 200); do
    port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$work/s3rver.out" 2>/dev/null | grep -oE '[0-9]+$' || true)
    [[ -n "$port" ]] && break
    sleep 0.05
  done
  [[ -n "$port" ]] || { echo "s3rver did not start: $(cat "$work/s3rver.out")" >&2; return 1; }
  endpoint="http://127.0.0.1:$port"
}

# publish_module SRC OUT: the module of the source tree SRC, published into OUT (as build.ps1 Package does)
publish_module() {
  dotnet publish "$1/FlyImages.Cmdlets/FlyImages.Cmdlets.csproj" -c Release -r linux-x64 --self-contained false \
    -o "$2" -v quiet -nologo >/dev/null
}
# package_module: publishes the module (as build.ps1 Package does) into $work/module and sets $module (its
# manifest) and pwsh_cmd: real pwsh (the pinned dotnet tool, `dotnet pwsh`, run in the repository where
# .config/dotnet-tools.json is) ready for a script from fly_script SCRIPT (SCRIPT with the module imported):
#   /usr/bin/time -v -o t.txt "${pwsh_cmd[@]}" "$(fly_script 'Get-FlyImage')"
# The launcher waits for pwsh, so wall time and peak RSS (the largest process's) are pwsh's.
package_module() {
  (cd "$repo" && dotnet tool restore >/dev/null)
  publish_module "$repo" "$work/module"
  module="$work/module/FlyImages.psd1"
  pwsh_cmd=(env -C "$repo" dotnet pwsh -NoProfile -NonInteractive -Command)
}
# package_commit COMMIT DIR: publishes the module as it was at COMMIT (git archive of this repository) into DIR/module,
# for a same-run comparison against an earlier build; prints the manifest's path.
package_commit() {
  local commit=$1 dir=$2
  mkdir -p "$dir/src"
  git -C "$repo" archive "$commit" | tar -x -C "$dir/src"
  publish_module "$dir/src" "$dir/module"
  echo "$dir/module/FlyImages.psd1"
}
# fly_script SCRIPT [MANIFEST]: SCRIPT with the module (or the given manifest) imported
fly_script() { printf "\$ErrorActionPreference = 'Stop'; Import-Module '%s'\n%s" "${2:-$module}" "$1"; }
# seed_realistic_image LAYER1_MB: builds the realistic 5-layer image (installed Debian packages, then perl/python,
# gcc, docs, /etc) and uploads it to s3rver ($endpoint, bucket "bench") as images/app/1.tar .. 5.tar; sets $image_bytes.
seed_realistic_image() {
  local mb=$1 i
  mkdir -p "$work/layers"
  bash "$repo/tests/bench/build-debian-layer.sh" "$work/layers/1.tar" "$mb" >/dev/null
  tar -C / -cf "$work/layers/2.tar" usr/share/perl usr/lib/python3 2>/dev/null || true
  tar -C / -cf "$work/layers/3.tar" usr/lib/gcc 2>/dev/null || true
  tar -C / -cf "$work/layers/4.tar" usr/share/doc 2>/dev/null || true
  tar -C / -cf "$work/layers/5.tar" etc 2>/dev/null || true
  image_bytes=$(du -cb "$work"/layers/*.tar | tail -1 | cut -f1)
  for i in 1 2 3 4 5; do curl -sf -T "$work/layers/$i.tar" "$endpoint/bench/images/app/$i.tar" >/dev/null; done
  rm -rf "$work/layers"
}
# release_under DIR: unmounts every mount below DIR (deepest first) and detaches every loop device whose backing file
# is below DIR, as a store's pool leaves them. It tries every one and returns non-zero when something is still
# left; `release_under DIR || true` ignores that.
release_under() {
  # two passes: a loop device backed by a file on a filesystem mounted below DIR (a snapshot's image in a pool's
  # XFS) keeps that filesystem busy until it is detached; only the second pass reports what is still left
  local dir=${1%/}/ m l pass rc=0
  for pass in 1 2; do
    for m in $(awk -v s="$dir" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
      if [[ $pass == 1 ]]; then umount "$m" 2>/dev/null || true; else umount "$m" || rc=1; fi
    done
    for l in $(losetup -nO NAME,BACK-FILE | awk -v s="$dir" 'index($2, s) == 1 {print $1}'); do losetup -d "$l" || rc=1; done
  done
  return $rc
}
