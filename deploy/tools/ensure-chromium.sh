#!/bin/sh
# Makes a headless browser available for the console's end-to-end test
# (tests/test_console_browser.py): Debian's `chromium` package. Like
# ensure-prometheus-tools.sh, this script never fails the build: when it
# cannot install (not root, no apt-get, no network) it says why and exits 0,
# and the test skips with its own reason.

set -u

say() { printf 'ensure-chromium: %s\n' "$*"; }

for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
        say "$name is present"
        exit 0
    fi
done
say "missing: chromium"
if [ "$(id -u)" != "0" ]; then
    say "not root: cannot apt-get install chromium; the browser test will skip"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "no apt-get (not Debian/Ubuntu): install chromium yourself; the browser test will skip"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/ensure-chromium.XXXXXX)
say "apt-get install chromium (log: $log)"
# The package index may be stale (or never fetched, as in fresh containers): update first.
if ! apt-get update -qq >"$log" 2>&1; then
    say "apt-get update failed (offline?); see $log. The browser test will skip"
    exit 0
fi
# --no-install-recommends: no extensions the test does not need. A small CJK
# font (fonts-wqy-microhei, 1.6 MB) makes the screenshots readable; the
# test checks the page's DOM, so it runs without one.
if ! apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei >>"$log" 2>&1 &&
   ! apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1; then
    say "apt-get install failed; see $log. The browser test will skip"
    exit 0
fi
if ! command -v chromium >/dev/null 2>&1; then
    say "chromium still missing after install; see $log. The browser test will skip"
    exit 0
fi
rm -f "$log"
say "installed: $(chromium --version 2>/dev/null | head -n 1)"
exit 0
