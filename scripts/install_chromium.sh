#!/usr/bin/env bash
# Chromium for the browser tests (tests marked `browser`: the report and the service's explorer page, driven
# by Playwright, which scripts/setup.sh installs from PyPI). Playwright uses the system's Chromium
# (Debian package `chromium`, /usr/bin/chromium; LMREC_CHROMIUM points elsewhere): `playwright install`
# downloads its own browser from a CDN, which is not needed and fails offline, so it is never run.
# Idempotent; without root or sudo it says so and the browser tests skip with that reason.
set -euo pipefail
CHROMIUM=${LMREC_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "lmrec setup: no Chromium at $CHROMIUM and no root to install it (apt-get install chromium); the browser tests will skip" >&2
  exit 0
fi
echo "lmrec setup: installing Chromium (Debian package chromium) for the browser tests" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
