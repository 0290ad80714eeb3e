#!/usr/bin/env bash
# Stop the daemons tests/slurm/start.sh started (and only those), in reverse order.
set -uo pipefail

STATE=${SLURM_TEST_DIR:-/tmp/imp-slurm}
PIDS=$STATE/pids
[ -f "$PIDS" ] || { echo "slurm-test: nothing to stop (no $PIDS)" >&2; exit 0; }

scancel --user=root >/dev/null 2>&1 || true
tac "$PIDS" | while read -r name pid; do
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    echo "slurm-test: stopped $name ($pid)" >&2
  fi
done
rm -f "$PIDS"
