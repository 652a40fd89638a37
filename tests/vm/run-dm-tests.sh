#!/bin/bash
# Runs the DeviceMapper test category (xunit trait Category=DeviceMapper) of tests/FlyImages.Tests
# inside a qemu VM with Debian's kernel, which has the device-mapper this host's kernel lacks.
# CI calls it after the ordinary tests:
#
#   bash tests/vm/run-dm-tests.sh [--no-build] [--quiet]
#
# 1. tests/vm/setup.sh (cached: about a second when nothing changed);
# 2. builds tests/FlyImages.Tests in Release on the host when its assembly is missing or older
#    than any source (.cs/.csproj/.props/.targets) — never inside the VM, where it is slow;
#    --no-build skips this;
# 3. boots the VM (run-vm.sh) and runs guest-dm-tests.sh there: the prebuilt assembly under the
#    SDK's vstest.console.dll run directly (the least CPU under TCG; `dotnet test DLL` costs
#    ~15% more, `dotnet vstest DLL` ~5%), TRX results into the run folder;
# 4. reads the TRX on the host, lists failed and skipped tests, and prints as its LAST line
#      VM: N passed, N failed, N skipped
#
# 5. with FLYVM_PESTER_MODULES set (tests/run.sh sets it and FLYVM_PESTER_MODULE_BASE, FLYVM_PESTER_SOURCE,
#    FLYVM_PESTER_MODULE), the guest then runs the Pester acceptance suite's Listing and Install tags in real
#    pwsh on devicemapper (see guest-dm-tests.sh); its NUnit XML is counted into the same VM line, and a
#    missing or empty result counts as 1 failure.
#
# Exit status: 0 when at least one test ran and every one passed; otherwise non-zero:
#   1   a test failed, a test was skipped inside the VM (there the kernel has device-mapper, so a
#       skip means the VM is broken), no test ran, or the runner produced no results
#   2   setup or the host build failed (the summary line then counts the run as 1 failed)
#   120-125  the VM could not run the tests (see run-vm.sh; also counted as 1 failed)
# A VM that cannot start is a failure, never a skip.
#
# Environment: FLYVM_TIMEOUT (default 1500 s for the whole VM: a hang guard; the budget is 600 s and
# a longer run prints a warning), FLYVM_TEST_FILTER (a vstest filter ANDed with the category, to run a
# few tests while developing), FLYVM_MEM, FLYVM_SMP,
# FLYVM_TEST_RUNNER (console | test | vstest), FLYIMAGES_VM_CACHE, FLYIMAGES_TESTS_DLL (another assembly).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BUILD=auto
QUIET=()
for a in "$@"; do
  case "$a" in
    --no-build) BUILD=no ;;
    --build) BUILD=yes ;;
    --quiet) QUIET=(--quiet) ;;
    *) flyvm_say "usage: run-dm-tests.sh [--build|--no-build] [--quiet]"; echo "VM: 0 passed, 1 failed, 0 skipped"; exit 2 ;;
  esac
done

summary() { echo "VM: $1 passed, $2 failed, $3 skipped"; }
give_up() { # code message
  flyvm_say "error: $2"
  summary 0 1 0
  exit "$1"
}

REPO=$(cd "$FLYVM_HERE/../.." && pwd -P)
PROJECT=$REPO/tests/FlyImages.Tests
DLL=${FLYIMAGES_TESTS_DLL:-$PROJECT/bin/Release/net10.0/FlyImages.Tests.dll}

# --- 1. setup ------------------------------------------------------------------------------------
t=$(flyvm_now)
"$FLYVM_HERE/setup.sh" --quiet || give_up 2 "tests/vm/setup.sh failed"
flyvm_say "setup ready in $(flyvm_since "$t") s"

# --- 2. the test assembly, built on the host -----------------------------------------------------
stale() {
  [ -f "$DLL" ] || return 0
  [ -n "$(find "$REPO" \( -name .git -o -name bin -o -name obj -o -name TestResults \) -prune -o \
            \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.targets' \) \
            -newer "$DLL" -print -quit)" ]
}
if [ "$BUILD" = yes ] || { [ "$BUILD" = auto ] && stale; }; then
  t=$(flyvm_now)
  flyvm_say "building $PROJECT (Release) on the host"
  blog=$(mktemp)
  if ! dotnet build "$PROJECT" -c Release -nologo -v q > "$blog" 2>&1; then
    cat "$blog"; rm -f "$blog"
    give_up 2 "dotnet build $PROJECT -c Release failed"
  fi
  rm -f "$blog"
  flyvm_say "built in $(flyvm_since "$t") s"
fi
[ -f "$DLL" ] || give_up 2 "$DLL does not exist"
DLL=$(cd "$(dirname "$DLL")" && pwd -P)/$(basename "$DLL")

# --- 3. the VM -------------------------------------------------------------------------------------
RUNNER=${FLYVM_TEST_RUNNER:-console}
ARGS=("${QUIET[@]}" --timeout "${FLYVM_TIMEOUT:-1500}")
# The guest's /tmp and /run are its own; a checkout or assembly there is laid over explicitly.
flyvm_hidden_in_guest "$REPO" && ARGS+=(--bind "$REPO")
case "$DLL" in "$REPO"/*) ;; *) flyvm_hidden_in_guest "$DLL" && ARGS+=(--bind "$(dirname "$DLL")") ;; esac
DOTNET=$(command -v dotnet) || give_up 2 "dotnet is not on PATH"
DOTNET=$(readlink -f "$DOTNET")
ARGS+=(--env "FLYVM_DOTNET=$DOTNET")
if [ "$RUNNER" = console ]; then
  # the SDK's vstest.console.dll, found on the host where the dotnet CLI is quick
  VSTEST_CONSOLE=$(dirname "$DOTNET")/sdk/$(cd "$REPO" && "$DOTNET" --version 2>/dev/null)/vstest.console.dll
  if [ -f "$VSTEST_CONSOLE" ]; then
    ARGS+=(--env "FLYVM_VSTEST_CONSOLE=$VSTEST_CONSOLE")
  else
    flyvm_say "no vstest.console.dll at $VSTEST_CONSOLE: using dotnet test"
    RUNNER=test
  fi
fi
[ -n "${DOTNET_ROOT:-}" ] && ARGS+=(--env "DOTNET_ROOT=$DOTNET_ROOT")

ARGS+=(--env "FLYVM_TEST_RUNNER=$RUNNER")
[ -n "${FLYVM_TEST_FILTER:-}" ] && ARGS+=(--env "FLYVM_TEST_FILTER=$FLYVM_TEST_FILTER")
# tests/bench/dm-snapshot-bench.sh: the rounds of the devicemapper snapshot benchmark test
[ -n "${FLYIMAGES_DM_BENCH_ROUNDS:-}" ] && ARGS+=(--env "FLYIMAGES_DM_BENCH_ROUNDS=$FLYIMAGES_DM_BENCH_ROUNDS")
if [ -n "${FLYVM_PESTER_MODULES:-}" ]; then
  for v in FLYVM_PESTER_MODULES FLYVM_PESTER_MODULE_BASE FLYVM_PESTER_SOURCE FLYVM_PESTER_MODULE FLYVM_PWSH_DLL; do
    ARGS+=(--env "$v=${!v:-}")
  done
  ARGS+=(--env "FLYVM_REPO=$REPO")
  # pwsh under TCG adds minutes: the hang guard grows with it
  [ -z "${FLYVM_TIMEOUT:-}" ] && ARGS+=(--timeout 2400)
fi

RUN_DIR=$(flyvm_new_run_dir) || give_up 2 "cannot create a run folder under $FLYVM_CACHE/runs"
t=$(flyvm_now)
"$FLYVM_HERE/run-vm.sh" --run-dir "$RUN_DIR" "${ARGS[@]}" -- "$FLYVM_HERE/guest-dm-tests.sh" "$DLL"
vm_rc=$?
took=$(flyvm_since "$t")
flyvm_say "VM part took $took s (exit $vm_rc)"
# The budget is 10 minutes on a 2-core TCG host; the timeout above only catches hangs.
awk -v t="$took" 'BEGIN{exit !(t > 600)}' && flyvm_say "warning: the VM part took $took s, over its 600 s budget"

# --- 4. results ------------------------------------------------------------------------------------
TRX=$RUN_DIR/share/results/dm.trx
if [ ! -f "$TRX" ]; then
  case "$vm_rc" in
    12[0-5]) give_up "$vm_rc" "the VM could not run the tests (run-vm.sh exit $vm_rc); console log: $RUN_DIR/console.log" ;;
    *) give_up 1 "the tests left no results (guest exit $vm_rc); console log: $RUN_DIR/console.log" ;;
  esac
fi

# One line per test: "<outcome> <test name>" (TRX: UnitTestResult elements, one per test).
results=$(grep -o '<UnitTestResult [^>]*>' "$TRX" \
  | sed -n 's/.*testName="\([^"]*\)".*outcome="\([^"]*\)".*/\2 \1/p')
count() { [ -z "$results" ] && echo 0 || grep -c -E "^($1) " <<< "$results"; }
passed=$(count Passed)
failed=$(count 'Failed|Error|Timeout|Aborted')
skipped=$(count 'NotExecuted|Inconclusive|Pending|Disconnected|Warning|NotRunnable|InProgress|Completed')
total=$((passed + failed + skipped))

rc=0
if [ "$failed" -gt 0 ]; then
  flyvm_say "failed inside the VM:"
  grep -E '^(Failed|Error|Timeout|Aborted) ' <<< "$results" | sed 's/^/  /' >&2
  # their messages, as the runner printed them
  awk '/^  Failed /{p=1} /^  (Passed|Skipped) |^Results File:|^Test Run /{p=0} p && !/^\[xUnit\.net /' "$RUN_DIR/console.log" >&2
  rc=1
fi
if [ "$skipped" -gt 0 ]; then
  flyvm_say "skipped inside the VM (a DeviceMapper test must not skip where device-mapper exists):"
  grep -v -E '^(Passed|Failed|Error|Timeout|Aborted) ' <<< "$results" | sed 's/^/  /' >&2
  # xunit's own lines carry the reasons: "<name> [SKIP]" then the message
  grep -A1 -F '[SKIP]' "$RUN_DIR/console.log" | grep -v '^--$' >&2
  rc=1
fi
if [ "$total" -eq 0 ]; then
  flyvm_say "no DeviceMapper test ran"
  rc=1
fi
if [ -n "${FLYVM_PESTER_MODULES:-}" ]; then
  if counts=$("$REPO/tests/acceptance/count-results.sh" "$RUN_DIR/share/results/pester.xml"); then
    read -r pp pf ps <<<"$counts"
    flyvm_say "Pester inside the VM (devicemapper): $pp passed, $pf failed, $ps skipped"
    [ "$pf" -gt 0 ] && { grep -E '^\s*\[-\]|^\s+(Expected|at )' "$RUN_DIR/console.log" | head -40 >&2; rc=1; }
  else
    flyvm_say "Pester inside the VM left no results: counted as 1 failure"
    pp=0 pf=1 ps=0; rc=1
  fi
  passed=$((passed + pp)); failed=$((failed + pf)); skipped=$((skipped + ps))
fi
if [ "$vm_rc" -ne 0 ] && [ "$rc" -eq 0 ]; then
  flyvm_say "the guest exited $vm_rc although every recorded test passed"
  rc=1
fi
flyvm_say "results: $TRX; console log: $RUN_DIR/console.log"
summary "$passed" "$failed" "$skipped"
exit "$rc"
