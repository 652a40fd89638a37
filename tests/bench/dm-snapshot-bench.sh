#!/usr/bin/env bash
# Snapshot benchmark on devicemapper (issue 15, goal 6, its devicemapper half), inside the qemu VM of tests/vm:
# runs the one xunit test ThinPools.DeviceMapperSnapshotBench there (FLYVM_TEST_FILTER), which installs a small
# image onto a fresh loop-backed dm thin-pool and times, in one process, ROUNDS snapshots by the snapshot
# workflow (a fresh pool object per round: what New-FlyThinSnapshot's core does per call) against ROUNDS raw
# `dmsetup message POOL 0 "create_snap N M"` + `dmsetup create NAME --table "0 S thin POOL N"` on the same pool.
# The VM is emulated (TCG): absolute times are slow, the ratio is the figure. Prints the test's BENCH lines and
# the host's load. Root; builds the test assembly when stale. ROUNDS=15 tests/bench/dm-snapshot-bench.sh
# ALSO='FullyQualifiedName~DeviceMapperThinPoolTests' runs those DeviceMapper tests in the same VM boot.
set -euo pipefail
ROUNDS=${ROUNDS:-15}
repo=$(cd "$(dirname "$0")/../.." && pwd)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; $(date -u '+%F %T') UTC"
log=$(mktemp)
rc=0
filter='FullyQualifiedName~DeviceMapperSnapshotBench'
[[ -n "${ALSO:-}" ]] && filter="$filter|$ALSO"
FLYIMAGES_DM_BENCH_ROUNDS=$ROUNDS FLYVM_TEST_FILTER=$filter \
  bash "$repo/tests/vm/run-dm-tests.sh" 2>&1 | tee "$log" | grep -E '^VM:|error|failed' || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
trx=$(grep -oE 'results: [^;]+dm\.trx' "$log" | sed 's/^results: //' | tail -1)
rm -f "$log"
[[ -n "$trx" && -f "$trx" ]] || { echo "no TRX from the VM run" >&2; exit 1; }
grep -oE 'BENCH [^&<]*' "$trx" | sed 's/^BENCH /  /'
grep -q 'BENCH median' "$trx" || rc=1
exit $rc
