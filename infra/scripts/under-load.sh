#!/usr/bin/env bash
# Runs a command several times in a row with a CPU hog beside it: one busy loop per core, for as
# long as the runs last. Exactly-once must not depend on an idle machine; this is how to show it.
#
#   bash infra/scripts/under-load.sh 3 bash infra/scripts/test.sh
#   bash infra/scripts/under-load.sh 3 cargo test -p flyt-local --test appeals
#
# Prints one line per run (rc and seconds) and exits non-zero if any run failed.
set -uo pipefail
if [[ $# -lt 2 || ! "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 RUNS COMMAND [ARGS...]" >&2
  exit 2
fi
runs="$1"
shift
hogs=()
stop_hogs() {
  if ((${#hogs[@]})); then kill "${hogs[@]}" 2>/dev/null; fi
}
trap stop_hogs EXIT
for _ in $(seq "$(nproc)"); do
  bash -c 'while :; do :; done' &
  hogs+=("$!")
done
echo "under-load: ${#hogs[@]} busy loops running beside: $*" >&2
failed=0
summary=()
for run in $(seq "$runs"); do
  started=$SECONDS
  "$@"
  rc=$?
  summary+=("run $run of $runs: rc $rc in $((SECONDS - started)) s")
  echo "under-load: ${summary[-1]}" >&2
  ((rc == 0)) || failed=1
done
printf 'under-load: %s\n' "${summary[@]}" >&2
exit "$failed"
