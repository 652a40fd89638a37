#!/usr/bin/env bash
# Fetch benchmark: curl -o against FlyImages' content store fetching the same object from s3rver on
# loopback, in the same run, cold each time (fresh output file / fresh store). Prints per-round times,
# the median ratio FlyImages/curl (goal <= 1.0) and FlyImages' peak RSS (goal <= 256 MiB).
#   SIZE_MIB=512 ROUNDS=5 PART_SIZE=<bytes> CONCURRENCY=<n> MD5=off READER=sdk READY_TO_RUN=false tests/bench/fetch-bench.sh
# (MD5=off: no MD5 check against the ETag; READER=sdk: AWSSDK response streams instead of HttpClient.)
# CHECKSUM=crc64nvme: each round also fetches the object as S3 serves it today, its full-object CRC64NVME announced on
# the checksum HEAD (s3rver keeps no additional checksums: FetchBench --announce-crc64nvme answers the HEAD, which is
# still made, with the object's CRC64NVME), so it is checked by CRC64NVME instead of the MD5 of its ETag.
set -euo pipefail
SIZE_MIB=${SIZE_MIB:-512}
ROUNDS=${ROUNDS:-5}
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/flyimages-bench.XXXXXX")
server=""
cleanup() {
  if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# ReadyToRun, as the module ships its core for pwsh 7.6 (ReadyToRun.targets): the fetch runs precompiled
# code, not Tier-0 JIT code, as it does in pwsh. READY_TO_RUN=false: plain IL, JIT-compiled.
dotnet publish "$repo/tests/bench/FetchBench/FetchBench.csproj" -c Release -r linux-x64 --self-contained false \
  -p:PublishReadyToRun=${READY_TO_RUN:-true} -o "$work/runner" -v quiet -nologo >/dev/null
package_module

start_s3rver bench

head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$work/object"
curl -sf -T "$work/object" "$endpoint/bench/images/blob/1.tar" >/dev/null
expected="sha256:$(sha256sum "$work/object" | cut -d' ' -f1)"
if [[ "${CHECKSUM:-}" == crc64nvme ]]; then
  crc=$(dotnet "$work/runner/FetchBench.dll" --crc64nvme "$work/object")
  echo "CRC64NVME of the object: $crc"
fi
rm -f "$work/object"
url="$endpoint/bench/images/blob/1.tar"

extra=()
[[ -n "${PART_SIZE:-}" ]] && extra+=(--part-size "$PART_SIZE")
[[ -n "${CONCURRENCY:-}" ]] && extra+=(--concurrency "$CONCURRENCY")
[[ -n "${MD5:-}" ]] && extra+=(--md5 "$MD5")
[[ -n "${READER:-}" ]] && extra+=(--reader "$READER")

now() { date +%s.%N; }
# user + system CPU seconds of a /usr/bin/time -v report
cpu_of() { awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$1"; }
curl_times=(); curl_sync_times=(); fly_times=(); fly_wall=(); peaks=(); crc_times=()
# the same fetch checked by CRC64NVME instead of MD5 (CHECKSUM=crc64nvme), before the MD5 run in even rounds, after it in odd
crc_round() {
  local store="$work/store-crc-$1" out; sync
  out=$(/usr/bin/time -v -o "$work/time-crc.txt" dotnet "$work/runner/FetchBench.dll" --endpoint "$endpoint" --source s3://bench/images --key blob/1.tar \
    --store "$store" --announce-crc64nvme "$crc" "${extra[@]}")
  [[ "$(sed -nE 's/.*digest=([a-z0-9:]+).*/\1/p' <<<"$out")" == "$expected" ]] || { echo "round $1: the run checked by CRC64NVME gave a wrong digest" >&2; exit 1; }
  crc_times+=("$(sed -nE 's/.*seconds=([0-9.]+).*/\1/p' <<<"$out")"); rm -rf "$store"
  peaks+=("$(sed -nE 's/.*Maximum resident set size \(kbytes\): ([0-9]+)/\1/p' "$work/time-crc.txt")")
}
echo "object: $SIZE_MIB MiB at $url; $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
  [[ "${CHECKSUM:-}" == crc64nvme && $((r % 2)) == 0 ]] && crc_round "$r"
  rm -f "$work/curl.out"; sync
  t0=$(now); curl -sf -o "$work/curl.out" "$url"; t1=$(now)
  # what a store that keeps what it records must add: the file made durable (sync FILE is fsync(2))
  sync "$work/curl.out"; t2=$(now)
  ct=$(echo "$t1 - $t0" | bc -l); cst=$(echo "$t2 - $t0" | bc -l); rm -f "$work/curl.out"
  store="$work/store-$r"; sync
  t0=$(now)
  out=$(/usr/bin/time -v -o "$work/time.txt" dotnet "$work/runner/FetchBench.dll" --endpoint "$endpoint" --source s3://bench/images --key blob/1.tar --store "$store" "${extra[@]}")
  t1=$(now)
  wall=$(echo "$t1 - $t0" | bc -l)
  ft=$(sed -nE 's/.*seconds=([0-9.]+).*/\1/p' <<<"$out")
  digest=$(sed -nE 's/.*digest=([a-z0-9:]+).*/\1/p' <<<"$out")
  [[ "$digest" == "$expected" ]] || { echo "round $r: wrong digest $digest (expected $expected)" >&2; exit 1; }
  peak=$(sed -nE 's/.*Maximum resident set size \(kbytes\): ([0-9]+)/\1/p' "$work/time.txt")
  rm -rf "$store"
  curl_times+=("$ct"); curl_sync_times+=("$cst"); fly_times+=("$ft"); fly_wall+=("$wall"); peaks+=("$peak")
  printf 'round %d: curl %.3f s (then fsync: %.3f s)  flyimages %.3f s (process %.3f s, %s s CPU)  peak %d MiB\n' "$r" "$ct" "$cst" "$ft" "$wall" \
    "$(cpu_of "$work/time.txt")" $((peak / 1024))
  if [[ "${CHECKSUM:-}" == crc64nvme ]]; then
    [[ $((r % 2)) == 1 ]] && crc_round "$r"
    printf '         checked by CRC64NVME instead of MD5 (%s): flyimages %.3f s (%s s CPU)\n' "$( ((r % 2)) && echo after || echo before)" \
      "${crc_times[-1]}" "$(cpu_of "$work/time-crc.txt")"
  fi
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mc=$(median "${curl_times[@]}"); mf=$(median "${fly_times[@]}"); mw=$(median "${fly_wall[@]}")
maxpeak=$(printf '%s\n' "${peaks[@]}" | sort -n | tail -1)
printf 'median: curl %.3f s (%.0f MiB/s)  flyimages %.3f s (%.0f MiB/s)\n' "$mc" "$(echo "$SIZE_MIB / $mc" | bc -l)" "$mf" "$(echo "$SIZE_MIB / $mf" | bc -l)"
printf 'ratio flyimages/curl (fetch, median): %.2f   (whole process incl. .NET start-up: %.2f)   goal <= 1.0\n' "$(echo "$mf / $mc" | bc -l)" "$(echo "$mw / $mc" | bc -l)"
mcs=$(median "${curl_sync_times[@]}")
printf 'ratio flyimages/(curl, then fsync of its file) (median): %.2f   (curl + fsync %.3f s; FlyImages fsyncs the blob before recording it)\n' "$(echo "$mf / $mcs" | bc -l)" "$mcs"
printf 'flyimages peak RSS: %d MiB   goal <= 256 MiB\n' $((maxpeak / 1024))
if [[ "${CHECKSUM:-}" == crc64nvme ]]; then
  mcrc=$(median "${crc_times[@]}")
  printf 'checked by CRC64NVME instead of MD5 (as S3 serves it): median %.3f s, ratio to curl %.2f, to curl then fsync %.2f\n' "$mcrc" \
    "$(echo "$mcrc / $mc" | bc -l)" "$(echo "$mcrc / $mcs" | bc -l)"
fi

# the same fetch through the cmdlet (Save-FlyImage in real pwsh): whole process, engine start-up included
cmd_times=(); cmd_peaks=()
for r in $(seq 1 "$ROUNDS"); do
  store="$work/store-cmd-$r"; sync
  t0=$(now)
  /usr/bin/time -v -o "$work/time.txt" "${pwsh_cmd[@]}" \
    "$(fly_script "Save-FlyImage blob -Source s3://bench/images -Endpoint $endpoint -Anonymous -StorePath $store")" >"$work/cmd.out" 2>&1 \
    || { echo "Save-FlyImage failed: $(cat "$work/cmd.out")" >&2; exit 1; }
  t1=$(now)
  [[ -f "$store/blobs/sha256/${expected#sha256:}" ]] || { echo "Save-FlyImage stored no blob $expected" >&2; exit 1; }
  rm -rf "$store"
  cmd_times+=("$(echo "$t1 - $t0" | bc -l)")
  cmd_peaks+=("$(sed -nE 's/.*Maximum resident set size \(kbytes\): ([0-9]+)/\1/p' "$work/time.txt")")
done
mcmd=$(median "${cmd_times[@]}")
printf 'Save-FlyImage through pwsh (whole process): median %.3f s, ratio to curl %.2f, peak RSS %d MiB\n' \
  "$mcmd" "$(echo "$mcmd / $mc" | bc -l)" $(( $(printf '%s\n' "${cmd_peaks[@]}" | sort -n | tail -1) / 1024 ))
