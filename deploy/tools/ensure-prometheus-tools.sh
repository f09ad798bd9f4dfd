#!/bin/sh
# Makes promtool, amtool and the prometheus server available for the deploy
# tests (rule validation and unit tests, Alertmanager config check, a real
# Prometheus scraping a worker). Debian packages `prometheus` and
# `prometheus-alertmanager` provide all three.
#
# This script never fails the build: when it cannot install (not root, no
# apt-get, no network), it says why and exits 0, and the tests that need the
# tools skip with their own reason.
#
# Installing the packages must not leave daemons behind: service starts are
# blocked with a policy-rc.d for the duration of the install, and anything
# the packages started anyway is stopped afterwards.

set -u

say() { printf 'ensure-prometheus-tools: %s\n' "$*"; }

missing=""
for tool in promtool amtool prometheus; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -z "$missing" ]; then
    say "promtool, amtool and prometheus are present"
    exit 0
fi
say "missing:$missing"

if [ "$(id -u)" != "0" ]; then
    say "not root: cannot apt-get install prometheus prometheus-alertmanager; the tests that need them will skip"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "no apt-get (not Debian/Ubuntu): install prometheus and alertmanager yourself; the tests that need them will skip"
    exit 0
fi

policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
    # exit 101 = "action forbidden": invoke-rc.d then skips starting services.
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && created_policy=yes
fi
cleanup() {
    if [ -n "$created_policy" ]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/ensure-prometheus-tools.XXXXXX)
say "apt-get update && apt-get install prometheus prometheus-alertmanager (log: $log)"
if ! apt-get update -qq >"$log" 2>&1; then
    say "apt-get update failed (offline?); see $log. The tests that need the tools will skip"
    exit 0
fi
# --no-install-recommends: the recommended node exporter is a daemon the tests do not need.
if ! apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >>"$log" 2>&1; then
    say "apt-get install failed; see $log. The tests that need the tools will skip"
    exit 0
fi

# If a service manager started the daemons despite the policy, stop them:
# the tests start their own servers on 127.0.0.1 with temporary configs.
for service in prometheus prometheus-alertmanager; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl stop "$service" >/dev/null 2>&1 || true
        systemctl disable "$service" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
        service "$service" stop >/dev/null 2>&1 || true
    fi
done

for tool in promtool amtool prometheus; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        say "$tool still missing after install; see $log. The tests that need it will skip"
        exit 0
    fi
done
rm -f "$log"
say "installed: $(prometheus --version 2>&1 | head -n 1)"
exit 0
