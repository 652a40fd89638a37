#!/usr/bin/env bash
# The test command: builds everything, runs every xunit suite (core, then the module in a hosted
# PowerShell engine), then the devicemapper tests inside a qemu VM (tests/vm), and prints one line
# "N passed, N failed, N skipped" with the totals of every run. Exits non-zero on any failure.
# Needs: .NET SDK 10, Node.js/npm, root (loop devices, mount), and for the VM part what
# tests/setup.sh installs. FLYIMAGES_SKIP_VM=1 leaves the VM part out (it is then reported as not run).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
logs=${FLYIMAGES_TEST_LOGS:-$root/out/test-logs}
mkdir -p "$logs"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

passed=0; failed=0; skipped=0
add_counts() { # reads the counters of a run's TRX file (missing: the run crashed)
  local trx=$1 label=$2 counters
  counters=$(grep -o '<Counters [^>]*>' "$trx" 2>/dev/null | head -1)
  if [ -z "$counters" ]; then
    echo "$label: no test results (the run crashed or did not start): counted as 1 failure"
    failed=$((failed + 1)); return
  fi
  attr() { sed -E "s/.* $1=\"([0-9]+)\".*/\1/" <<<"$counters"; }
  passed=$((passed + $(attr passed))); failed=$((failed + $(attr failed) + $(attr error) + $(attr timeout) + $(attr aborted)))
  skipped=$((skipped + $(attr total) - $(attr executed)))   # vstest counts skips as not executed
}

echo "== build"
if ! dotnet build FlyImages.slnx -c Release -nologo -v:q -clp:ErrorsOnly 2>&1 | tee "$logs/build.log"; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
grep -qE ' error ' "$logs/build.log" && { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

for project in tests/FlyImages.Tests tests/FlyImages.Module.Tests; do
  name=$(basename "$project")
  echo "== $name"
  rm -f "$logs/$name.trx"
  # devicemapper tests run in the VM below; on the host they would only skip
  dotnet test "$project" -c Release --no-build -nologo --filter "Category!=DeviceMapper" --logger "console;verbosity=normal" \
    --logger "trx;LogFileName=$name.trx" --results-directory "$logs" 2>&1 | tee "$logs/$name.log" \
    | grep -E '^\s+(Failed|Skipped) |^Total tests|^\s+(Passed|Failed|Skipped): |Error Message|not run:' || true
  add_counts "$logs/$name.trx" "$name"
done

if [ "${FLYIMAGES_SKIP_VM:-0}" = 1 ]; then
  echo "== devicemapper tests in the VM: not run (FLYIMAGES_SKIP_VM=1)"
elif [ -x tests/vm/run-dm-tests.sh ]; then
  echo "== devicemapper tests in the VM"
  tests/vm/run-dm-tests.sh 2>&1 | tee "$logs/vm.log"
  vm_rc=${PIPESTATUS[0]}
  vm_line=$(grep -E '^VM: [0-9]+ passed, [0-9]+ failed' "$logs/vm.log" | tail -1)
  if [ -n "$vm_line" ]; then
    read -r vp vf vs < <(sed -E 's/^VM: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\1 \2 \4/' <<<"$vm_line")
    passed=$((passed + vp)); failed=$((failed + vf)); skipped=$((skipped + ${vs:-0}))
  fi
  if [ "$vm_rc" != 0 ] && { [ -z "$vm_line" ] || [ "${vf:-0}" = 0 ]; }; then
    echo "the VM run failed (exit $vm_rc): counted as 1 failure; console log: see $logs/vm.log"
    failed=$((failed + 1))
  fi
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
