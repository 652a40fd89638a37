#!/usr/bin/env bash
# Capped-endpoint benchmark (issue 15.4): behind a proxy that caps each connection's throughput (as S3 caps each
# stream), Save-FlyImage (real pwsh, packaged module) against the AWS CLI's `aws s3 cp` (its default settings) and
# `curl -o`, fetching the same object from s3rver, cold each time. Prints per-round times, the median ratios
# (goal: Save-FlyImage <= 0.8x the AWS CLI, far under curl) and the peak RSS of each (goal <= 256 MiB).
#   SIZE_MIB=128 CAP_MIB=1 ROUNDS=3 CURL_ROUNDS=1 CURL_MIB=8 [AWS=/usr/bin/aws] tests/bench/capped-bench.sh
# Save-FlyImage is timed inside pwsh with a Stopwatch around the cmdlet (pwsh and module start-up excluded) and as a
# whole process; the AWS CLI and curl as whole processes (their start-up is a fraction of a second).
set -euo pipefail
SIZE_MIB=${SIZE_MIB:-128}
CAP_MIB=${CAP_MIB:-1}
CURL_MIB=${CURL_MIB:-8}
ROUNDS=${ROUNDS:-3}
CURL_ROUNDS=${CURL_ROUNDS:-1}
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/bench/lib.sh"
# Debian's awscli (apt-get install -y awscli) unless AWS= names another
AWS=${AWS:-$( [[ -x /usr/bin/aws ]] && echo /usr/bin/aws || command -v aws || true)}
[[ -n "$AWS" ]] || { echo "the AWS CLI is missing: apt-get install -y awscli" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/flyimages-capped.XXXXXX")
server=""; proxy=""
cleanup() {
  for p in "$proxy" "$server"; do
    if [[ -n "$p" ]]; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

package_module
start_s3rver bench
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$work/object"
curl -sf -T "$work/object" "$endpoint/bench/images/blob/1.tar" >/dev/null
expected=$(sha256sum "$work/object" | cut -d' ' -f1)
rm -f "$work/object"

python3 "$repo/tests/bench/cap-proxy.py" "${endpoint#http://}" "$CAP_MIB" >"$work/proxy.out" 2>&1 &
proxy=$!
port=""
for _ in $(seq 1 400); do
  port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$work/proxy.out" 2>/dev/null | grep -oE '[0-9]+$' || true)
  [[ -n "$port" ]] && break
  sleep 0.05
done
[[ -n "$port" ]] || { echo "the capping proxy did not start: $(cat "$work/proxy.out")" >&2; exit 1; }
capped="http://127.0.0.1:$port"
url="$capped/bench/images/blob/1.tar"
# s3rver accepts only this key pair when signed; the CLI's own defaults otherwise (no config file)
aws_env=(env AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null)

now() { date +%s.%N; }
peak_of() { sed -nE 's/.*Maximum resident set size \(kbytes\): ([0-9]+)/\1/p' "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "object: $SIZE_MIB MiB behind a proxy capping each connection to $CAP_MIB MiB/s ($("$AWS" --version 2>&1 | cut -d' ' -f1)); $ROUNDS rounds; $(uptime)"

# curl (one stream) fetches the first CURL_MIB MiB; its time is scaled to the whole object (a capped stream is linear)
curl_times=()
for r in $(seq 1 "$CURL_ROUNDS"); do
  rm -f "$work/curl.out"
  t0=$(now); curl -sf -r "0-$((CURL_MIB * 1024 * 1024 - 1))" -o "$work/curl.out" "$url"; t1=$(now)
  curl_times+=("$(echo "($t1 - $t0) * $SIZE_MIB / $CURL_MIB" | bc -l)")
  rm -f "$work/curl.out"
  printf 'curl round %d: %.2f s for %d MiB, %.1f s for the object\n' "$r" "$(echo "$t1 - $t0" | bc -l)" "$CURL_MIB" "${curl_times[-1]}"
done

aws_times=(); aws_peaks=(); fly_times=(); fly_wall=(); fly_peaks=()
for r in $(seq 1 "$ROUNDS"); do
  rm -f "$work/aws.out"; sync
  t0=$(now)
  /usr/bin/time -v -o "$work/time.txt" "${aws_env[@]}" "$AWS" s3 cp --only-show-errors --endpoint-url "$capped" \
    s3://bench/images/blob/1.tar "$work/aws.out"
  t1=$(now)
  [[ "$(sha256sum "$work/aws.out" | cut -d' ' -f1)" == "$expected" ]] || { echo "aws s3 cp: wrong bytes" >&2; exit 1; }
  rm -f "$work/aws.out"
  aws_times+=("$(echo "$t1 - $t0" | bc -l)"); aws_peaks+=("$(peak_of "$work/time.txt")")

  store="$work/store-$r"; sync
  t0=$(now)
  /usr/bin/time -v -o "$work/time.txt" "${pwsh_cmd[@]}" "$(fly_script "\$w = [Diagnostics.Stopwatch]::StartNew()
Save-FlyImage blob -Source s3://bench/images -Endpoint $capped -Anonymous -StorePath '$store' | Out-Null
'seconds={0:0.000}' -f \$w.Elapsed.TotalSeconds")" >"$work/fly.out" 2>&1 \
    || { echo "Save-FlyImage failed: $(cat "$work/fly.out")" >&2; exit 1; }
  t1=$(now)
  [[ -f "$store/blobs/sha256/$expected" ]] || { echo "Save-FlyImage stored no blob sha256:$expected" >&2; exit 1; }
  rm -rf "$store"
  fly_times+=("$(sed -nE 's/.*seconds=([0-9.]+).*/\1/p' "$work/fly.out")")
  fly_wall+=("$(echo "$t1 - $t0" | bc -l)"); fly_peaks+=("$(peak_of "$work/time.txt")")
  printf 'round %d: aws s3 cp %.2f s (peak %d MiB)  Save-FlyImage %.2f s in process, %.2f s whole (peak %d MiB)\n' "$r" \
    "${aws_times[-1]}" $((aws_peaks[-1] / 1024)) "${fly_times[-1]}" "${fly_wall[-1]}" $((fly_peaks[-1] / 1024))
done

mc=$(median "${curl_times[@]}"); ma=$(median "${aws_times[@]}"); mf=$(median "${fly_times[@]}"); mw=$(median "${fly_wall[@]}")
printf 'median: curl %.2f s (%.1f MiB/s)  aws s3 cp %.2f s (%.1f MiB/s)  Save-FlyImage %.2f s in process (%.1f MiB/s), %.2f s whole\n' \
  "$mc" "$(echo "$SIZE_MIB / $mc" | bc -l)" "$ma" "$(echo "$SIZE_MIB / $ma" | bc -l)" "$mf" "$(echo "$SIZE_MIB / $mf" | bc -l)" "$mw"
printf 'ratio Save-FlyImage/aws s3 cp: %.2f in process (whole process: %.2f)   goal <= 0.8\n' "$(echo "$mf / $ma" | bc -l)" "$(echo "$mw / $ma" | bc -l)"
printf 'ratio Save-FlyImage/curl: %.2f in process (whole process: %.2f)\n' "$(echo "$mf / $mc" | bc -l)" "$(echo "$mw / $mc" | bc -l)"
printf 'peak RSS: Save-FlyImage (pwsh) %d MiB, aws s3 cp %d MiB   goal <= 256 MiB\n' \
  $(( $(printf '%s\n' "${fly_peaks[@]}" | sort -n | tail -1) / 1024 )) $(( $(printf '%s\n' "${aws_peaks[@]}" | sort -n | tail -1) / 1024 ))
echo "load: $(uptime)"
