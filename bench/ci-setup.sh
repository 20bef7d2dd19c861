#!/usr/bin/env bash
# Installs what bench/run.sh needs (idempotent): perfdhcp (kea-admin), kea-dhcp6
# (kea-dhcp6-server), the HA and lease_cmds hooks (kea-common), iproute2, python3.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "ci-setup.sh: needs root" >&2; exit 2; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends kea-admin kea-dhcp6-server kea-common iproute2 python3 >/dev/null
# The Debian service must not run: the benchmark starts its own servers in namespaces.
if command -v systemctl >/dev/null && systemctl is-active -q kea-dhcp6-server 2>/dev/null; then
    systemctl stop kea-dhcp6-server || true
fi
command -v perfdhcp >/dev/null && command -v kea-dhcp6 >/dev/null
echo "bench prerequisites installed: $(perfdhcp -v 2>&1 | head -1), kea-dhcp6 $(kea-dhcp6 -v 2>&1 | head -1)"
