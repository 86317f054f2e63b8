#!/usr/bin/env bash
# Runs Flyt locally: installs what it needs (first run only), starts the local AWS emulator and the
# sandbox, creates the stack from template.yaml, fires the schedules and drains the queues.
# Arguments go to `flyt-local run` (e.g. --once, --objects N, --descriptions N, --fault-rate 0.1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/infra/scripts/setup.sh"
cd "$root"
exec cargo run --quiet -p flyt-local -- run "$@"
