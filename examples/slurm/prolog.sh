#!/bin/sh
# Slurm Prolog (slurmd, as root, on each allocated node): ask the local attest daemon for a
# signed `start` manifest naming this job, its tenant (from the account) and exactly its
# physical GPUs (SLURM_JOB_GPUS). A job with no GPU gets no manifest: it uses none.
#
# slurm.conf:   Prolog=/etc/slurm/attest/prolog.sh   PrologFlags=Alloc
# Configuration: attest-hooks.conf (see that file for where it is looked for).
#
# Failure behaviour: a non-zero exit DRAINS this node and requeues the job held - no job runs
# unattested. Set ATTEST_SOFT=1 to log and let the job run instead (an audit gap, visible as a
# missing start manifest). Prologs must finish well within MessageTimeout and must not call
# Slurm commands: this one talks only to the local daemon, with a hard time limit.
CONF=${ATTEST_HOOKS_CONF:-$(dirname "$0")/attest-hooks.conf}
[ -r "$CONF" ] || CONF=/etc/attest/hooks.conf
# shellcheck disable=SC1090
[ -r "$CONF" ] && . "$CONF"
set -u
ATTEST=${ATTEST:-attest}
TENANTS=${ATTEST_TENANTS:-/etc/attest/tenants.json}
SOCKET=${ATTEST_SOCKET:-/run/attest/attest.sock}
LIMIT=${ATTEST_TIMEOUT:-8}
LOG=${ATTEST_NODE_LOG:-}

if out=$(timeout "$LIMIT" "$ATTEST" daemon sign-job --phase start --slurm-env --tenant-map "$TENANTS" \
        --socket "$SOCKET" --format json 2>&1); then
    echo "attest: $out" | logger -t attest-prolog 2>/dev/null || true
    [ -n "$LOG" ] && echo "job ${SLURM_JOB_ID:-?} start: $out" >> "$LOG" 2>/dev/null
    exit 0
fi
line="attest: no start manifest for job ${SLURM_JOB_ID:-?} on ${SLURMD_NODENAME:-?}: $out"
echo "$line" >&2
echo "$line" | logger -t attest-prolog 2>/dev/null || true
[ -n "$LOG" ] && echo "$line" >> "$LOG" 2>/dev/null
[ "${ATTEST_SOFT:-0}" = 1 ] && exit 0
exit 1
