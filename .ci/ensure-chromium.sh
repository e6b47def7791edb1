#!/usr/bin/env bash
# Make sure Chromium and its WebDriver exist for the browser tests (tests/web/test_browser.py);
# install Debian's chromium + chromium-driver with apt if not. Idempotent.
# Where they cannot be installed (not root, no sudo, no apt) the browser tests skip with a reason.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found and no apt-get: install chromium + chromedriver; browser tests will skip" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "chromium not found and not root: apt-get install chromium chromium-driver; browser tests will skip" >&2
  exit 0
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "Installing chromium + chromium-driver with apt..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromedriver --version
