#!/bin/bash
# Boots Debian's kernel under qemu with the host's root as the guest's (read-only over 9p, guest
# writes kept in guest RAM and discarded), runs one command in it, and exits with that command's
# exit status. Run tests/vm/setup.sh first.
#
#   tests/vm/run-vm.sh [options] [--] COMMAND [ARG...]
#
# COMMAND is a path to a script/program (or a name looked up on the guest's PATH, which is the
# host's). It runs as root in the host's filesystem view, in the current directory, with
# DM_DISABLE_UDEV=1 (no udev in the guest: libdevmapper makes the /dev/mapper nodes itself),
# FLYIMAGES_IN_VM=1, and FLYVM_SHARE = the run folder as the guest sees it (read-write; files
# written there are on the host after the run). The guest's /tmp and /run are its own RAM, so host
# paths under them are invisible inside: a COMMAND there is copied into the run folder, and
# folders there can be made visible with --bind.
#
# Options (environment variable in brackets):
#   --timeout SEC   kill the VM after SEC seconds [FLYVM_TIMEOUT, default 900]
#   --mem SIZE      guest RAM; all guest writes live in it [FLYVM_MEM, default 3G]
#   --smp N         vCPUs [FLYVM_SMP, default 1: as fast as 2 on a 2-core TCG host]
#   --accel LIST    qemu accelerators, ':'-separated, tried in order [FLYVM_ACCEL, default tcg:
#                   this machine kind has a /dev/kvm that opens but cannot run a guest (qemu
#                   aborts setting MSR 0x10a, or hangs at boot), so KVM is opt-in]
#   --run-dir DIR   the run folder (default: a new one under $FLYIMAGES_VM_CACHE/runs; the
#                   newest 10 are kept)
#   --log FILE      console log [default RUN-DIR/console.log]; its path is printed at the end
#   --bind DIR      lay host folder DIR over the guest at the same path (repeatable)
#   --env NAME=VAL  extra environment for COMMAND (repeatable)
#   --quiet         do not copy the console to stdout (the log file still has it)
#
# Exit status:
#   0-255 but those below   COMMAND's own exit status
#   120   harness not usable: bad arguments, or setup.sh was not run (nothing booted)
#   121   qemu failed (could not start, or exited with an error before the guest reported)
#   122   the guest booted but could not set up its view of the host (FLYVM-ERROR in the log)
#   124   timeout: the VM was killed after --timeout seconds
#   125   the guest never reported a result (kernel panic, crash, power-off without result)
# A COMMAND that itself exits 120-125 is indistinguishable by code; the last lines printed
# ("flyvm: ...") say which happened.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FLYVM_DIE_CODE=120

TIMEOUT=${FLYVM_TIMEOUT:-900}
MEM=${FLYVM_MEM:-3G}
SMP=${FLYVM_SMP:-1}
ACCEL=${FLYVM_ACCEL:-}
RUN_DIR=
LOG=
QUIET=0
BINDS=()
ENVS=()
need_arg() { [ "$#" -ge 2 ] || flyvm_die "$1 needs a value"; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    --timeout) need_arg "$@"; TIMEOUT=$2; shift 2 ;;
    --mem) need_arg "$@"; MEM=$2; shift 2 ;;
    --smp) need_arg "$@"; SMP=$2; shift 2 ;;
    --accel) need_arg "$@"; ACCEL=$2; shift 2 ;;
    --run-dir) need_arg "$@"; RUN_DIR=$2; shift 2 ;;
    --log) need_arg "$@"; LOG=$2; shift 2 ;;
    --bind) need_arg "$@"; BINDS+=("$2"); shift 2 ;;
    --env) need_arg "$@"; ENVS+=("$2"); shift 2 ;;
    --quiet) QUIET=1; shift ;;
    --) shift; break ;;
    -*) flyvm_die "unknown option $1 (see the header of $0)" ;;
    *) break ;;
  esac
done
[ "$#" -ge 1 ] || flyvm_die "usage: run-vm.sh [options] [--] COMMAND [ARG...]"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] && [ "$TIMEOUT" -gt 0 ] || flyvm_die "--timeout must be a positive number of seconds"
[[ "$SMP" =~ ^[1-9][0-9]?$ ]] || flyvm_die "--smp must be a small positive number"
[[ "$MEM" =~ ^[0-9]+[MG]?$ ]] || flyvm_die "--mem must look like 3G or 3072M"
for e in "${ENVS[@]}"; do
  [[ "$e" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || flyvm_die "--env wants NAME=VALUE, got '$e'"
done

[ -f "$FLYVM_CURRENT" ] || flyvm_die "no VM prepared in $FLYVM_CACHE: run tests/vm/setup.sh"
# shellcheck disable=SC1090
. "$FLYVM_CURRENT"
for f in "$VMLINUZ" "$INITRD"; do [ -f "$f" ] || flyvm_die "$f is missing: run tests/vm/setup.sh"; done
[ -d "$MODULES" ] || flyvm_die "$MODULES is missing: run tests/vm/setup.sh"
[[ "$MODULES" =~ ^/[A-Za-z0-9._/+-]+$ ]] || flyvm_die "module path $MODULES has characters the kernel command line cannot carry"
command -v qemu-system-x86_64 >/dev/null || flyvm_die "qemu-system-x86_64 missing: run tests/vm/setup.sh"

ACCEL=${ACCEL:-tcg}
[[ "$ACCEL" =~ ^[a-z]+(:[a-z]+)*$ ]] || flyvm_die "--accel wants names like tcg or kvm:tcg"

# --- the run folder ----------------------------------------------------------------------------
if [ -z "$RUN_DIR" ]; then
  RUN_DIR=$(flyvm_new_run_dir) || flyvm_die "cannot create a run folder under $FLYVM_CACHE/runs"
fi
mkdir -p "$RUN_DIR/share" || flyvm_die "cannot create $RUN_DIR/share"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
SHARE=$RUN_DIR/share
rm -f "$SHARE/rc" "$SHARE/error" "$SHARE/argv" "$SHARE/env" "$SHARE/cwd" "$SHARE/binds"
LOG=${LOG:-$RUN_DIR/console.log}
: > "$LOG" || flyvm_die "cannot write the console log $LOG"
LOG=$(cd "$(dirname "$LOG")" && pwd)/$(basename "$LOG")

# qemu's option syntax doubles commas inside values
qarg() { printf '%s' "${1//,/,,}"; }

VIRTFS=(
  -virtfs "local,path=$(qarg "$SHARE"),mount_tag=flyvm-share,security_model=none,id=flyvm-share"
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap,id=hostroot"
)
i=0
for b in "${BINDS[@]}"; do
  [ -d "$b" ] || flyvm_die "--bind $b is not a folder"
  b=$(cd "$b" && pwd -P)
  [[ "$b" != *$'\n'* ]] || flyvm_die "--bind path has a newline"
  [ "$b" != / ] || flyvm_die "--bind / makes no sense: the host root is always there"
  printf '%s\n' "$b" >> "$SHARE/binds"
  VIRTFS+=(-virtfs "local,path=$(qarg "$b"),mount_tag=bind$i,security_model=none,readonly=on,multidevs=remap,id=bind$i")
  i=$((i + 1))
done

# is PATH visible at the same place inside the guest (host root minus /tmp etc., plus binds)?
visible_in_guest() {
  flyvm_hidden_in_guest "$1" || return 0
  local b
  for b in "${BINDS[@]}"; do
    b=$(cd "$b" && pwd -P)
    case "$1/" in "$b"/*) return 0 ;; esac
  done
  return 1
}

CMD=$1; shift
if [[ "$CMD" == */* ]]; then
  [ -f "$CMD" ] || flyvm_die "$CMD does not exist"
  [ -x "$CMD" ] || flyvm_die "$CMD is not executable"
  CMD=$(cd "$(dirname "$CMD")" && pwd -P)/$(basename "$CMD")
  if ! visible_in_guest "$CMD"; then
    cp -- "$CMD" "$SHARE/command" && chmod +x "$SHARE/command"
    CMD=/run/flyvm/share/command
  fi
fi
printf '%s\0' "$CMD" "$@" > "$SHARE/argv"
[ "${#ENVS[@]}" -eq 0 ] || printf '%s\0' "${ENVS[@]}" > "$SHARE/env"
pwd -P > "$SHARE/cwd"

QEMU=(
  qemu-system-x86_64 -machine q35 -cpu max -smp "$SMP" -m "$MEM"
  -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot
  -kernel "$VMLINUZ" -initrd "$INITRD"
  -append "console=ttyS0 panic=-1 quiet loglevel=4 flyvm.modules=$MODULES"
  -device virtio-rng-pci
  "${VIRTFS[@]}"
)
IFS=: read -r -a accels <<< "$ACCEL"
for a in "${accels[@]}"; do QEMU+=(-accel "$a"); done

start=$(flyvm_now)
# sed -u, not tr: the console reaches stdout line by line instead of in 4 KiB bursts
if [ "$QUIET" = 1 ]; then
  timeout --foreground -k 15 "$TIMEOUT" "${QEMU[@]}" < /dev/null 2>&1 | sed -u 's/\r//g' > "$LOG"
else
  timeout --foreground -k 15 "$TIMEOUT" "${QEMU[@]}" < /dev/null 2>&1 | sed -u 's/\r//g' | tee "$LOG"
fi
qrc=${PIPESTATUS[0]}
wall=$(flyvm_since "$start")

ready=$(sed -n 's/^FLYVM-READY uptime=\([0-9.]*\).*/\1/p' "$LOG" | head -n1)
end=$(sed -n 's/^FLYVM-RESULT rc=[0-9]* uptime=\([0-9.]*\).*/\1/p' "$LOG" | head -n1)
flyvm_say "qemu exit $qrc, wall ${wall} s, guest ready at ${ready:-?} s, done at ${end:-?} s (guest uptime, accel $ACCEL)"
flyvm_say "console log: $LOG"

if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  flyvm_say "timeout: the VM was killed after $TIMEOUT s"
  exit 124
fi
if [ -f "$SHARE/rc" ]; then
  rc=$(cat "$SHARE/rc")
  [[ "$rc" =~ ^[0-9]+$ ]] || { flyvm_say "the guest wrote a malformed result '$rc'"; exit 125; }
  exit "$rc"
fi
if [ -f "$SHARE/error" ]; then
  flyvm_say "the guest could not set itself up: $(cat "$SHARE/error")"
  exit 122
fi
if grep -q '^FLYVM-ERROR' "$LOG"; then
  flyvm_say "the guest could not set itself up: $(grep -m1 '^FLYVM-ERROR' "$LOG")"
  exit 122
fi
if [ "$qrc" != 0 ]; then
  flyvm_say "qemu failed (exit $qrc) before the guest reported"
  exit 121
fi
flyvm_say "the guest never reported a result (kernel panic or crash? see the log)"
exit 125
