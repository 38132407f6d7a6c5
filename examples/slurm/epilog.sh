#!/bin/sh
# Slurm Epilog (slurmd, as root): the signed `end` manifest of the job on this node.
#
# slurm.conf:   Epilog=/etc/slurm/attest/epilog.sh
#
# Failure behaviour: a non-zero exit drains the node (the job has already ended). Because a
# missing end manifest is an audit gap rather than a risk, ATTEST_SOFT defaults to 1 here:
# the failure is logged and the node stays up. Set ATTEST_SOFT=0 to drain instead.
set -u
ATTEST=${ATTEST:-attest}
TENANTS=${ATTEST_TENANTS:-/etc/attest/tenants.json}
SOCKET=${ATTEST_SOCKET:-/run/attest/attest.sock}
LIMIT=${ATTEST_TIMEOUT:-8}

if out=$(timeout "$LIMIT" "$ATTEST" daemon sign-job --phase end --slurm-env --tenant-map "$TENANTS" \
        --socket "$SOCKET" --format json 2>&1); then
    exit 0
fi
echo "attest: no end manifest for job ${SLURM_JOB_ID:-?}: $out" >&2
echo "attest: no end manifest for job ${SLURM_JOB_ID:-?}: $out" | logger -t attest-epilog 2>/dev/null || true
[ "${ATTEST_SOFT:-1}" = 1 ] && exit 0
exit 1
