#!/bin/bash
# Install Debian's Chromium and chromedriver for the browser end-to-end tests (tests/e2e: JupyterLab and the
# book) and tools/screenshot_book.py. The book carries its own MathJax (from the jupyter-server-mathjax wheel).
# Idempotent: does nothing when both are already installed. Needs root (or sudo) and apt-get.
# Only Debian's packages are used: test tools' own browser downloads are not relied upon.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "chromium and chromedriver already installed: $(/usr/bin/chromium --version 2>/dev/null || true)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_chromium.sh: need root (or sudo) to apt-get install chromium chromium-driver" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium chromium-driver
/usr/bin/chromium --version
