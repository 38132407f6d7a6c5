#!/bin/sh
# Slurm Prolog (slurmd, as root, on each allocated node): ask the local attest daemon for a
# signed `start` manifest naming this job, its tenant (from the account) and its physical GPUs.
#
# slurm.conf:   Prolog=/etc/slurm/attest/prolog.sh   PrologFlags=Alloc
#
# Failure behaviour: a non-zero exit DRAINS this node and requeues the job held - no job runs
# unattested. Set ATTEST_SOFT=1 to log and let the job run instead (an audit gap, visible as a
# missing start manifest). Prologs must finish well within MessageTimeout and must not call
# Slurm commands: this one talks only to the local daemon, with a hard time limit.
set -u
ATTEST=${ATTEST:-attest}
TENANTS=${ATTEST_TENANTS:-/etc/attest/tenants.json}
SOCKET=${ATTEST_SOCKET:-/run/attest/attest.sock}
LIMIT=${ATTEST_TIMEOUT:-8}

if out=$(timeout "$LIMIT" "$ATTEST" daemon sign-job --phase start --slurm-env --tenant-map "$TENANTS" \
        --socket "$SOCKET" --format json 2>&1); then
    echo "attest: $out" | logger -t attest-prolog 2>/dev/null || true
    exit 0
fi
echo "attest: no start manifest for job ${SLURM_JOB_ID:-?}: $out" >&2
echo "attest: no start manifest for job ${SLURM_JOB_ID:-?}: $out" | logger -t attest-prolog 2>/dev/null || true
[ "${ATTEST_SOFT:-0}" = 1 ] && exit 0
exit 1
