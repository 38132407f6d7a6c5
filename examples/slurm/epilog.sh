#!/bin/sh
# Slurm Epilog (slurmd, as root): the signed `end` manifest of the job on this node, naming
# exactly its GPUs (none, and no manifest, for a job without GPUs).
#
# slurm.conf:   Epilog=/etc/slurm/attest/epilog.sh
# Configuration: attest-hooks.conf (see that file for where it is looked for).
#
# Failure behaviour: a non-zero exit drains the node (the job has already ended). Because a
# missing end manifest is an audit gap rather than a risk, ATTEST_SOFT defaults to 1 here:
# the failure is logged and the node stays up. Set ATTEST_SOFT=0 to drain instead.
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

if out=$(timeout "$LIMIT" "$ATTEST" daemon sign-job --phase end --slurm-env --tenant-map "$TENANTS" \
        --socket "$SOCKET" --format json 2>&1); then
    [ -n "$LOG" ] && echo "job ${SLURM_JOB_ID:-?} end: $out" >> "$LOG" 2>/dev/null
    exit 0
fi
line="attest: no end manifest for job ${SLURM_JOB_ID:-?} on ${SLURMD_NODENAME:-?}: $out"
echo "$line" >&2
echo "$line" | logger -t attest-epilog 2>/dev/null || true
[ -n "$LOG" ] && echo "$line" >> "$LOG" 2>/dev/null
[ "${ATTEST_SOFT:-1}" = 1 ] && exit 0
exit 1
