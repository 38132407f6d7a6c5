#!/bin/sh
# Slurm PrologSlurmctld (slurmctld, as SlurmUser, at allocation): refuse a job centrally before it
# starts, from the allocated nodes' verified evidence and the export-control policy for the job's
# tenant (looked up by account). The job runs on every node of its allocation, so every one must
# qualify (--allocated).
#
# slurm.conf:   PrologSlurmctld=/etc/slurm/attest/prolog_slurmctld.sh
# Configuration: attest-hooks.conf (see that file for where it is looked for).
#
# On refusal (exit 3) or when attest cannot decide (exit 2, also a refusal: fail closed):
# - the reason goes to $ATTEST_LOG and syslog (slurmctld keeps only "exit status 3:0");
# - the job's Comment says why (scontrol show job N: Comment=attest: refused: ...);
# - slurmctld requeues a refused batch job and would retry it every ~2 minutes forever, holding
#   the allocation's place: this script then holds it (an admin hold: JobHeldAdmin) so it stays
#   pending with its reason until an admin releases or cancels it. Interactive jobs are cancelled.
CONF=${ATTEST_HOOKS_CONF:-$(dirname "$0")/attest-hooks.conf}
[ -r "$CONF" ] || CONF=/etc/attest/hooks.conf
# shellcheck disable=SC1090
[ -r "$CONF" ] && . "$CONF"
set -u
ATTEST=${ATTEST:-attest}
TENANTS=${ATTEST_TENANTS:-/etc/attest/tenants.json}
EVIDENCE=${ATTEST_EVIDENCE:-/var/lib/attest/evidence}
TRUST=${ATTEST_TRUST:-/etc/attest/trust.json}
POLICY=${ATTEST_POLICY:-us-ear}
LIMIT=${ATTEST_TIMEOUT:-20}
LOG=${ATTEST_LOG:-}
SCONTROL=${ATTEST_SCONTROL:-scontrol}
JOB=${SLURM_JOB_ID:-pending}

# shellcheck disable=SC2086 - ATTEST_ADMIT_ARGS is a list of options
out=$(timeout "$LIMIT" "$ATTEST" admit --tenant-map "$TENANTS" --account "${SLURM_JOB_ACCOUNT:-}" \
      --nodes "${SLURM_JOB_NODELIST:-}" --allocated --gpus 0 --job-id "$JOB" \
      --evidence "$EVIDENCE" --trust "$TRUST" --policy "$POLICY" ${ATTEST_ADMIT_ARGS:-} 2>&1)
code=$?
case $code in
    0) verdict=admitted ;;
    3) verdict=refused ;;
    124) verdict="refused (attest timed out after ${LIMIT} s)" ;;
    *) verdict="refused (attest could not decide, exit $code)" ;;
esac
line="attest job $JOB account=${SLURM_JOB_ACCOUNT:-?} nodes=${SLURM_JOB_NODELIST:-?}: $verdict: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-1500)"
echo "$line" >&2
[ -n "$LOG" ] && echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $line" >> "$LOG" 2>/dev/null
logger -t attest-admit -- "$line" 2>/dev/null || true
[ "$code" = 0 ] && exit 0

if [ "$JOB" != pending ] && command -v "$SCONTROL" >/dev/null 2>&1; then
    reason="attest: $verdict: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-900)"
    if ! err=$(timeout 10 "$SCONTROL" update JobId="$JOB" Comment="$reason" 2>&1); then
        [ -n "$LOG" ] && echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) attest job $JOB: scontrol update failed: $err" >> "$LOG" 2>/dev/null
    fi
    # The requeue happens after this script exits: hold the job once it is pending again. In its
    # own session (slurmctld kills this script's process group when it exits), and only once the
    # holder says it is there (the fifo), so that it cannot be killed before it got away.
    ready=$(mktemp -u "${TMPDIR:-/tmp}/attest-hold.XXXXXX") && mkfifo -m 600 "$ready" && {
        setsid sh -c '
            scontrol=$0 job=$1 log=$2 i=0 gone=0
            echo ready > "$3"
            note() { [ -n "$log" ] && echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) attest job $job: $*" >> "$log"; }
            while [ $i -lt 120 ]; do
                i=$((i + 1)); sleep 1
                state=$(timeout 10 "$scontrol" show job -o "$job" 2>&1 | tr " " "\n" | sed -n "s/^JobState=//p")
                case $state in
                    PENDING) if timeout 10 "$scontrol" hold "$job" >/dev/null 2>&1; then note "held"; exit 0; fi ;;
                    CANCELLED|COMPLETED|FAILED|TIMEOUT|NODE_FAIL|BOOT_FAIL|DEADLINE|OUT_OF_MEMORY) exit 0 ;;
                    "") gone=$((gone + 1)); [ $gone -ge 5 ] && { note "gone (no job record)"; exit 0; } ;;
                esac
            done
            note "could not hold it (last state: ${state:-unknown})"' "$SCONTROL" "$JOB" "$LOG" "$ready" </dev/null >/dev/null 2>&1 &
        timeout 5 sh -c 'read -r _ < "$0"' "$ready"
        rm -f "$ready"
    }
fi
exit "$code"
