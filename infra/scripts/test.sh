#!/usr/bin/env bash
# The whole test suite: formatting, lints (clippy, cfn-lint on the template and on its SAM
# translation), then every unit and integration test against the local emulator and the sandbox.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/infra/scripts/setup.sh"
cd "$root"
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== template lint"
bash infra/scripts/lint-template.sh
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo build --bins (the Lambda binaries the runtime test starts)"
cargo build --workspace --bins --quiet
echo "== cargo test"
PATH="$root/.venv/bin:$PATH" cargo test --workspace --no-fail-fast "$@"
