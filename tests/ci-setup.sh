#!/bin/sh
# Installs what the end-to-end tests (crate failover-tests) need, on Debian, as root.
# Idempotent and non-interactive. Run by ./test.sh (the README's test command) when root;
# .ci/run runs ./test.sh.
#   iproute2         ip netns / ip link (veth, bridge)
#   isc-dhcp-client  dhclient -6 (IA_NA with -N, IA_PD with -P)
#   kea-admin        perfdhcp (Kea's load generator)
#   kea-dhcp6-server kea-dhcp6, the server failoverd import-kea migrates from (tests/tests/kea.rs)
#   dhcpcd-base      dhcpcd (IA_NA and IA_PD in one client)
#   procps           sysctl (keep_addr_on_down on the failover link)
#   libfaketime      a partner whose clock is ahead (runtime/tests/process.rs, §6.1 back-off)
#   chromium         headless, renders the trace viewer's page (specs/tests/viewer.rs)
#   tshark           an outside decoder of the replies' options (tests/tests/options.rs)
set -eu
if [ "$(id -u)" != 0 ]; then
    echo "ci-setup.sh: must run as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends iproute2 isc-dhcp-client dhcpcd-base kea-admin kea-dhcp6-server procps libfaketime chromium tshark
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || [ -n "$(find /usr/lib -name libfaketime.so.1 2>/dev/null | head -1)" ] || {
    echo "ci-setup.sh: libfaketime still missing" >&2
    exit 1
}
for tool in ip dhclient dhcpcd perfdhcp kea-dhcp6 sysctl mount chromium tshark; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ] || {
        echo "ci-setup.sh: $tool still missing" >&2
        exit 1
    }
done
echo "ci-setup.sh: ready"
