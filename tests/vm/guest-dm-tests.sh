#!/bin/bash
# Runs INSIDE the VM (via run-vm.sh, started by run-dm-tests.sh): the DeviceMapper category of a
# prebuilt xunit assembly, TRX results written to $FLYVM_SHARE/results/dm.trx for the host.
#
#   guest-dm-tests.sh TESTS.dll
#
# FLYVM_TEST_RUNNER picks the runner: console (default: the SDK's vstest.console.dll run directly,
# FLYVM_VSTEST_CONSOLE naming it), test (`dotnet test DLL`) or vstest (`dotnet vstest DLL`).
# When FLYVM_PESTER_MODULES is set (tests/run.sh sets it, through run-dm-tests.sh), the Pester acceptance
# suite's Listing and Install tags then run in real pwsh (`dotnet pwsh`, the pinned tool, from the checkout
# FLYVM_REPO) on devicemapper pools, importing the module installed from the nupkg in FLYVM_PESTER_MODULES
# (FLYVM_PESTER_MODULE_BASE), with FLYVM_PESTER_SOURCE as the source and FLYVM_PESTER_MODULE as Pester;
# NUnit XML into $FLYVM_SHARE/results/pester.xml. With FLYVM_PWSH_DLL (the tool's pwsh.dll, found on the host)
# dotnet runs that pwsh directly: under emulation the dotnet CLI and the tool's shim cost minutes.
# Exit status: the test runner's (non-zero also when Pester failed); 3 when this kernel has no device-mapper (the VM is broken: the
# DeviceMapper tests would only skip); 4 when the assembly is not visible inside.
set -uo pipefail
DLL=${1:?usage: guest-dm-tests.sh TESTS.dll}
RESULTS=${FLYVM_SHARE:?run me through tests/vm/run-vm.sh}/results
up() { cut -d' ' -f1 /proc/uptime; }

if ! grep -qw device-mapper /proc/misc; then
  echo "guest: this kernel has no device-mapper (/proc/misc): the VM is broken" >&2
  exit 3
fi
[ -f "$DLL" ] || { echo "guest: $DLL is not visible inside the VM" >&2; exit 4; }
mkdir -p "$RESULTS"
export VSTEST_CONNECTION_TIMEOUT=${VSTEST_CONNECTION_TIMEOUT:-900}
FILTER="Category=DeviceMapper"
# FLYVM_TEST_FILTER (passed through run-dm-tests.sh) narrows the run, e.g. FullyQualifiedName~ImageRemoval
[ -n "${FLYVM_TEST_FILTER:-}" ] && FILTER="$FILTER&($FLYVM_TEST_FILTER)"
DOTNET=${FLYVM_DOTNET:-dotnet}   # the host's dotnet, resolved on the host

start=$(up)
echo "guest: $(nproc) vCPU, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB, runner ${FLYVM_TEST_RUNNER:-console}, uptime $start"
case "${FLYVM_TEST_RUNNER:-console}" in
  vstest)
    "$DOTNET" vstest "$DLL" --TestCaseFilter:"$FILTER" \
      --logger:"trx;LogFileName=dm.trx" --logger:"console;verbosity=normal" --ResultsDirectory:"$RESULTS"
    ;;
  console)
    # vstest.console.dll of the host's SDK, without the dotnet CLI in front of it
    "$DOTNET" "${FLYVM_VSTEST_CONSOLE:?}" "$DLL" --TestCaseFilter:"$FILTER" \
      --logger:"trx;LogFileName=dm.trx" --logger:"console;verbosity=normal" --ResultsDirectory:"$RESULTS"
    ;;
  test)
    "$DOTNET" test "$DLL" --filter "$FILTER" \
      --logger "trx;LogFileName=dm.trx" --logger "console;verbosity=normal" --results-directory "$RESULTS"
    ;;
  *) echo "guest: FLYVM_TEST_RUNNER must be console, test or vstest" >&2; exit 2 ;;
esac
rc=$?
echo "guest: test runner exit $rc after $(awk -v s="$start" -v e="$(up)" 'BEGIN{printf "%.1f", e-s}') s"

if [ -n "${FLYVM_PESTER_MODULES:-}" ]; then
  pstart=$(up)
  if [ -n "${FLYVM_PWSH_DLL:-}" ]; then pwsh=("$DOTNET" "$FLYVM_PWSH_DLL"); else pwsh=("$DOTNET" pwsh); fi
  (cd "${FLYVM_REPO:?}" && env PSModulePath="$FLYVM_PESTER_MODULES" FLYIMAGES_ACCEPTANCE_MODULE=FlyImages \
    FLYIMAGES_ACCEPTANCE_MODULE_BASE="${FLYVM_PESTER_MODULE_BASE:-}" FLYIMAGES_SOURCE="${FLYVM_PESTER_SOURCE:?}" \
    FLYIMAGES_ACCEPTANCE_BACKEND=DeviceMapper \
    "${pwsh[@]}" -NoProfile -NonInteractive -File tests/acceptance/Invoke-Acceptance.ps1 \
    -ResultPath "$RESULTS/pester.xml" -PesterModule "${FLYVM_PESTER_MODULE:?}" -Tag Listing,Install)
  prc=$?
  echo "guest: Pester exit $prc after $(awk -v s="$pstart" -v e="$(up)" 'BEGIN{printf "%.1f", e-s}') s"
  [ "$rc" -eq 0 ] && rc=$prc
fi
echo "guest: done after $(awk -v s="$start" -v e="$(up)" 'BEGIN{printf "%.1f", e-s}') s"
exit "$rc"
