#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver for the console's browser tests, if
# missing. Never a browser downloaded by a tool (selenium-manager, playwright install):
# the tests use /usr/bin/chromium and /usr/bin/chromedriver only.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "browser.sh: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) present" >&2
    exit 0
fi
command -v apt-get >/dev/null || { echo "browser.sh: no apt-get to install chromium" >&2; exit 1; }
echo "browser.sh: installing Debian's chromium and chromium-driver" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2
