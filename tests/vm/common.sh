# shellcheck shell=bash
# Shared settings of the tests/vm scripts (sourced, not run).
#
# FLYIMAGES_VM_CACHE  where the kernel, the initramfs and the run folders live
#                     (default /var/cache/flyimages-vm). It must not be under /tmp or /run:
#                     the guest sees the host's root through 9p, but its own /tmp and /run are
#                     RAM, so host files there are invisible inside the VM.
FLYVM_CACHE=${FLYIMAGES_VM_CACHE:-/var/cache/flyimages-vm}
FLYVM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The file setup.sh writes last: KVER, VMLINUZ, MODULES, INITRD of the ready VM.
FLYVM_CURRENT=$FLYVM_CACHE/current.env

flyvm_say() { printf 'flyvm: %s\n' "$*" >&2; }
flyvm_die() { printf 'flyvm: error: %s\n' "$*" >&2; exit "${FLYVM_DIE_CODE:-1}"; }

# Paths the guest replaces with its own mounts: host files under them are not visible inside.
flyvm_hidden_in_guest() {
  case "$1/" in
    /tmp/*|/run/*|/proc/*|/sys/*|/dev/*) return 0 ;;
    *) return 1 ;;
  esac
}

# Monotonic-enough seconds with decimals, for timings.
flyvm_now() { date +%s.%N; }
flyvm_since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}'; }

# A new run folder under $FLYVM_CACHE/runs (printed); the newest 10 earlier runs are kept for
# their console logs and results, older ones removed.
flyvm_new_run_dir() {
  mkdir -p "$FLYVM_CACHE/runs" || return 1
  find "$FLYVM_CACHE/runs" -mindepth 1 -maxdepth 1 -type d -name 'run-*' -printf '%T@ %p\n' \
    | sort -rn | tail -n +11 | cut -d' ' -f2- | while IFS= read -r old; do rm -rf -- "$old"; done
  mktemp -d "$FLYVM_CACHE/runs/run-$(date -u +%Y%m%dT%H%M%S)-XXXX"
}
