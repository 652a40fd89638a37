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
