#!/usr/bin/env bash
# The test command: builds everything, runs every xunit suite (core, then the module in a hosted
# PowerShell engine), then the Pester suites of tests/acceptance in real pwsh (the pinned dotnet tool)
# against the module as users get it (build.ps1 Package publishes FlyImages.<version>.nupkg to out/repo;
# Save-PSResource installs it into a fresh module folder): every tag against s3rver (Fleet included: the runbook
# across three sshd hosts in network namespaces, tests/acceptance/Fleet.Tests.ps1), Listing and Install
# against a folder source (block-file pools), then the devicemapper tests inside a qemu VM (tests/vm),
# where the Listing and Install tags run again on devicemapper. Prints one line
# "N passed, N failed, N skipped" with the totals of every run (Pester's counted from its NUnit XML; a
# run with no results, or one that crashed, counts as 1 failure). Exits non-zero on any failure.
# Needs: .NET SDK 10, Node.js/npm, root (loop devices, mount), and what tests/setup.sh installs and
# restores (the pwsh tool, Pester). FLYIMAGES_SKIP_VM=1 leaves the VM part out (reported as not run).
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

# --- Pester, in real pwsh, against the installed nupkg ------------------------------------------------
pester_dir=$logs/pester
add_pester() { # label xml exit-code: adds a Pester run's counts (NUnit XML); no results or a crash is 1 failure
  local label=$1 xml=$2 rc=$3 counts pp pf ps
  if ! counts=$(tests/acceptance/count-results.sh "$xml"); then
    echo "$label: no test results (the run crashed or found no test; exit $rc): counted as 1 failure"
    failed=$((failed + 1)); return
  fi
  read -r pp pf ps <<<"$counts"
  echo "$label: $pp passed, $pf failed, $ps skipped"
  passed=$((passed + pp)); failed=$((failed + pf)); skipped=$((skipped + ps))
  if [ "$rc" != 0 ] && [ "$pf" = 0 ]; then
    echo "$label: pwsh exited $rc although no test failed (a failed BeforeAll/AfterAll or file): counted as 1 failure"
    failed=$((failed + 1))
  fi
}
run_pester() { # label xml tags [NAME=VALUE...]: one Invoke-Acceptance.ps1 run in pwsh, counted
  local label=$1 xml=$2 tags=$3; shift 3
  echo "== Pester: $label"
  rm -f "$xml"
  env "$@" PSModulePath="$pester_dir/modules${PSModulePath:+:$PSModulePath}" FLYIMAGES_ACCEPTANCE_MODULE=FlyImages \
    FLYIMAGES_ACCEPTANCE_MODULE_BASE="$module_base" \
    dotnet pwsh -NoProfile -NonInteractive -File tests/acceptance/Invoke-Acceptance.ps1 -ResultPath "$xml" \
    -PesterModule "$pester" ${tags:+-Tag "$tags"} >"${xml%.xml}.log" 2>&1
  local rc=$?
  grep -E '^\s*\[-\]|^Tests (Passed|completed)|^\s+(Expected|at )|No test ran' "${xml%.xml}.log" | head -60
  add_pester "$label" "$xml" "$rc"
}
server=""
stop_s3rver() { if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; server=""; fi; }
trap stop_s3rver EXIT
pester_ready() { # tools, the nupkg installed into $pester_dir/modules, the source folder and s3rver seeded
  rm -rf "$pester_dir"; mkdir -p "$pester_dir"
  dotnet tool restore >"$pester_dir/prepare.log" 2>&1 || return 1
  dotnet restore tests/tools/TestTools.csproj -nologo -v q >>"$pester_dir/prepare.log" 2>&1 || return 1
  pester=$(dotnet msbuild tests/tools/TestTools.csproj -getProperty:PesterModule 2>>"$pester_dir/prepare.log")
  [ -f "$pester" ] || { echo "Pester is not at '$pester'" >>"$pester_dir/prepare.log"; return 1; }
  dotnet pwsh -NoProfile -NonInteractive -File ./build.ps1 Package >>"$pester_dir/prepare.log" 2>&1 || return 1
  local version
  version=$(dotnet pwsh -NoProfile -NonInteractive -c '(Import-PowerShellDataFile ./FlyImages.psd1).ModuleVersion' 2>>"$pester_dir/prepare.log")
  mkdir -p "$pester_dir/modules"
  dotnet pwsh -NoProfile -NonInteractive -c "Save-PSResource FlyImages -Version '$version' -Repository FlyImagesLocal -Path '$pester_dir/modules' -TrustRepository -ErrorAction Stop" \
    >>"$pester_dir/prepare.log" 2>&1 || return 1
  module_base=$pester_dir/modules/FlyImages/$version
  [ -f "$module_base/FlyImages.psd1" ] || { echo "Save-PSResource did not install $module_base" >>"$pester_dir/prepare.log"; return 1; }
  repo=$root work=$pester_dir
  . tests/bench/lib.sh
  start_s3rver acceptance >>"$pester_dir/prepare.log" 2>&1 || return 1
  dotnet pwsh -NoProfile -NonInteractive -File tests/acceptance/New-AcceptanceSource.ps1 -Path "$pester_dir/source" \
    -Endpoint "$endpoint" -Bucket acceptance -Prefix images >>"$pester_dir/prepare.log" 2>&1 || return 1
}
echo "== Pester: packaging, installing the nupkg (Save-PSResource), seeding s3rver"
if pester_ready; then
  run_pester "every suite, s3rver source" "$pester_dir/s3rver.xml" "" \
    FLYIMAGES_SOURCE=s3://acceptance/images FLYIMAGES_S3_ENDPOINT="$endpoint" FLYIMAGES_ACCEPTANCE_BACKEND=BlockFile
  run_pester "Listing and Install, folder source" "$pester_dir/folder.xml" "Listing,Install" \
    FLYIMAGES_SOURCE="$pester_dir/source" FLYIMAGES_ACCEPTANCE_BACKEND=BlockFile
  stop_s3rver
  # the VM's guest runs the same suites on devicemapper with the same installed module and folder source
  # (pwsh.dll of the pinned tool, run by dotnet directly: under emulation the CLI and the tool's shim in
  # front of it would cost two more .NET start-ups)
  export FLYVM_PESTER_MODULES=$pester_dir/modules FLYVM_PESTER_MODULE_BASE=$module_base \
    FLYVM_PESTER_SOURCE=$pester_dir/source FLYVM_PESTER_MODULE=$pester \
    FLYVM_PWSH_DLL=$(dotnet pwsh -NoProfile -NonInteractive -c '[Reflection.Assembly]::GetEntryAssembly().Location' 2>/dev/null)
else
  stop_s3rver
  echo "Pester: could not prepare (see $pester_dir/prepare.log): counted as 1 failure"
  tail -20 "$pester_dir/prepare.log"
  failed=$((failed + 1))
fi

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
