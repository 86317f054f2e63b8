#!/usr/bin/env bash
# Installs everything Flyt needs beyond the Rust toolchain and Python 3, pinned, into the project folder,
# and Debian's chromium for the browser test. Idempotent: a second run with unchanged requirements
# does nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Headless Chromium and chromedriver for the log overview's browser test
# (infra/local/tests/log_overview_browser.rs). Not pinned into the project folder like the Python
# tools: they are Debian packages (a browser with its shared libraries and fonts, which pip cannot
# install), taken from the distribution's own mirror with apt-get, the only source of a browser this
# machine reaches. Installed once; skipped while both are present.
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
  echo "setup: installing chromium and chromium-driver (Debian packages) for the browser test" >&2
  as_root=()
  if [[ "$(id -u)" != 0 ]]; then as_root=(sudo); fi
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

venv="$root/.venv"
req="$root/infra/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "setup: installing pinned tools into .venv (first run only)" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip==25.3"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "setup: done" >&2
