#!/usr/bin/env bash
# The benchmark: builds both Lambda packages as they are deployed (cargo lambda build --release,
# bootstrap.zip), then drains N items (default 3000) through the local platform and prints
# items/s, AWS requests per item by service, Flyt's CPU per 1,000 items, peak memory and package sizes;
# then the DigEks proxy API: requests/s, p50/p99 latency and the authorizer's share (2nd argument: requests).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/infra/scripts/setup.sh"
cd "$root"
export PATH="$root/.venv/bin:$PATH"
echo "== cargo lambda build --release --output-format zip (x86_64; the template deploys arm64, see README)"
cargo lambda build --release --output-format zip --package bokbasen-fetch --package alma-forward
echo "== drain"
cargo run --quiet --profile bench -p flyt-local -- bench --items "${1:-3000}"
echo "== DigEks proxy API"
cargo run --quiet --profile bench -p flyt-local -- bench-api --requests "${2:-3000}"
