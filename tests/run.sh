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
add_counts() { # parses the vstest summary lines of a log
  local log=$1 label=$2 found=0
  while IFS= read -r line; do
    found=1
    local f p s
    f=$(sed -E 's/.*Failed: *([0-9]+).*/\1/' <<<"$line")
    p=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$line")
    s=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  done < <(grep -E '^(Passed|Failed)! +- +Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+' "$log")
  if [ $found = 0 ]; then
    echo "$label: no test summary (the run crashed or did not start): counted as 1 failure"
    failed=$((failed + 1))
  fi
}

echo "== build"
if ! dotnet build FlyImages.slnx -c Release -nologo -v:q -clp:ErrorsOnly 2>&1 | tee "$logs/build.log"; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
grep -qE ' error ' "$logs/build.log" && { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

for project in tests/FlyImages.Tests tests/FlyImages.Module.Tests; do
  name=$(basename "$project")
  echo "== $name"
  dotnet test "$project" -c Release --no-build -nologo --logger "console;verbosity=normal" \
    --logger "trx;LogFileName=$name.trx" --results-directory "$logs" 2>&1 | tee "$logs/$name.log" \
    | grep -E '^\s+(Failed|Skipped) |^(Passed|Failed)!|Error Message|^\s+Assert|not run:' || true
  add_counts "$logs/$name.log" "$name"
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
