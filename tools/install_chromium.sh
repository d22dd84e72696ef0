#!/usr/bin/env bash
# Install Debian's Chromium and chromedriver for the browser end-to-end test (tests/e2e), and Debian's
# MathJax 2.7 (libjs-mathjax) so that tools/screenshot_book.py shows the book's formulas offline.
# Idempotent: does nothing when all three are already installed. Needs root (or sudo) and apt-get.
# Only Debian's packages are used: test tools' own browser downloads are not relied upon.
set -euo pipefail

MATHJAX=/usr/share/javascript/mathjax/MathJax.js
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -f "$MATHJAX" ]; then
    echo "chromium, chromedriver and MathJax already installed: $(/usr/bin/chromium --version 2>/dev/null || true)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_chromium.sh: need root (or sudo) to apt-get install chromium chromium-driver libjs-mathjax" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium chromium-driver libjs-mathjax
/usr/bin/chromium --version
