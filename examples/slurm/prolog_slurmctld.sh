#!/bin/sh
# Slurm PrologSlurmctld (slurmctld, at allocation): refuse a job centrally before it starts,
# from the allocated nodes' verified evidence and the export-control policy for the job's
# tenant (looked up by account). The job runs on every node of its allocation, so every one
# must qualify (--allocated): one node without evidence, or at a site the policy refuses for
# this tenant, refuses the whole job.
#
# slurm.conf:   PrologSlurmctld=/etc/slurm/attest/prolog_slurmctld.sh
#
# Failure behaviour: a non-zero exit requeues a batch job and cancels an interactive one.
# Exit 3 from `attest admit` means refused (the reason goes to the slurmctld log); exit 2
# means attest could not decide (unreadable evidence or trust store) - also a refusal: the
# check fails closed. Evidence is read from local files: the directory the collector keeps
# with each node's newest envelope (attest collector serve --evidence-dir DIR), so each job
# verifies one manifest per node, not the nodes' whole history; nothing here calls Slurm
# commands or the network.
set -u
ATTEST=${ATTEST:-attest}
TENANTS=${ATTEST_TENANTS:-/etc/attest/tenants.json}
EVIDENCE=${ATTEST_EVIDENCE:-/var/lib/attest/evidence}
TRUST=${ATTEST_TRUST:-/etc/attest/trust.json}
POLICY=${ATTEST_POLICY:-us-ear}
LIMIT=${ATTEST_TIMEOUT:-20}

out=$(timeout "$LIMIT" "$ATTEST" admit --tenant-map "$TENANTS" --account "${SLURM_JOB_ACCOUNT:-}" \
      --nodes "${SLURM_JOB_NODELIST:-}" --allocated --gpus 0 --job-id "${SLURM_JOB_ID:-pending}" \
      --evidence "$EVIDENCE" --trust "$TRUST" --policy "$POLICY" 2>&1)
code=$?
echo "attest admit job ${SLURM_JOB_ID:-?} (${SLURM_JOB_ACCOUNT:-?} on ${SLURM_JOB_NODELIST:-?}): $out" >&2
exit $code
