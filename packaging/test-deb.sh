#!/usr/bin/env bash
# Package test (CI, as root): builds the Debian package, installs it, checks its files, man
# pages, completions and unit, runs the installed failoverd as the unit would (the unit's
# ExecStart, its User, its capabilities, its umask) in a network namespace of its own on ports
# 547/647 with a multicast interface, asks `failoverd ctl status`, then removes everything:
# the processes (by PID), the namespace, the package (dpkg --purge) and the user it created.
# Exits non-zero on the first failed check. systemd need not be PID 1: nothing here uses it.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "test-deb: must run as root" >&2; exit 1; }
for tool in ip setpriv apt-get dpkg zcat; do
    command -v "$tool" >/dev/null || { echo "test-deb: $tool is missing" >&2; exit 1; }
done

step() { echo "test-deb: $*"; }
ok() { echo "test-deb:   ok  $*"; }
fail() {
    echo "test-deb: FAILED: $*" >&2
    exit 1
}

if dpkg -s failoverd >/dev/null 2>&1; then
    fail "the package failoverd is already installed; this test installs and purges its own"
fi
user_existed=no
getent passwd failoverd >/dev/null && user_existed=yes

ns="fo-pkg-$$"
work=$(mktemp -d /tmp/fo-pkg-test.XXXXXX)
pids=()
conf=/etc/failoverd/failoverd.toml
cleanup() {
    local rc=$?
    set +e
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    ip netns del "$ns" 2>/dev/null
    if dpkg -s failoverd >/dev/null 2>&1; then
        dpkg --purge failoverd >/dev/null
    fi
    if [ "$user_existed" = no ] && getent passwd failoverd >/dev/null; then
        userdel failoverd 2>/dev/null
        getent group failoverd >/dev/null && groupdel failoverd 2>/dev/null
    fi
    rm -rf /run/failoverd
    if [ "$rc" != 0 ]; then
        for f in "$work"/*.log; do
            [ -f "$f" ] && { echo "---- $f"; tail -30 "$f"; }
        done
    fi
    rm -rf "$work"
    if [ "$rc" = 0 ]; then
        if [ -e /usr/bin/failoverd ] || [ -e /var/lib/failoverd ] || [ -e /etc/failoverd ] ||
            ip netns list | grep -q "^$ns\b"; then
            echo "test-deb: FAILED: something is left after the purge" >&2
            exit 1
        fi
        echo "test-deb: cleaned up (processes, namespace $ns, package purged$([ "$user_existed" = no ] && echo ", user failoverd removed"))"
    fi
    exit "$rc"
}
trap cleanup EXIT

step "building the package (packaging/build-deb.sh)"
deb=$(bash packaging/build-deb.sh | tail -1)
[ -f "$deb" ] || fail "no package built"
deb=$(realpath "$deb") # apt-get takes a path only if it contains a slash
ok "built $deb ($(du -h "$deb" | cut -f1))"

step "installing it with apt-get (pulls its dependencies)"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log"; fail "apt-get install $deb"; }
ok "installed: $(dpkg-query -W -f '${Package} ${Version} (Depends: ${Depends})' failoverd)"

step "files (dpkg -L failoverd)"
listed=$(dpkg -L failoverd)
for f in /usr/bin/failoverd \
    /usr/lib/systemd/system/failoverd.service \
    /etc/failoverd/failoverd.toml \
    /usr/share/doc/failoverd/examples/primary.toml \
    /usr/share/doc/failoverd/examples/secondary.toml \
    /usr/share/doc/failoverd/operations.md \
    /usr/share/man/man1/failoverd.1.gz \
    /usr/share/man/man1/failoverd-run.1.gz \
    /usr/share/man/man1/failoverd-ctl.1.gz \
    /usr/share/bash-completion/completions/failoverd \
    /usr/share/zsh/vendor-completions/_failoverd \
    /usr/share/fish/vendor_completions.d/failoverd.fish; do
    grep -qx "$f" <<<"$listed" || fail "$f is not in the package"
    [ -f "$f" ] || fail "$f is listed but missing"
done
ok "binary, unit, conffile, examples, docs, 3 man pages checked of $(grep -c '/man1/' <<<"$listed"), 3 completions"
grep -qx /etc/failoverd/failoverd.toml /var/lib/dpkg/info/failoverd.conffiles ||
    fail "/etc/failoverd/failoverd.toml is not a conffile"
ok "/etc/failoverd/failoverd.toml is a conffile"
/usr/bin/failoverd --version | grep -q '^failoverd ' || fail "failoverd --version"
ok "$(/usr/bin/failoverd --version)"
/usr/bin/failoverd check-config "$conf" >/dev/null || fail "the shipped $conf does not validate"
ok "the shipped $conf validates"

step "user and state directory (postinst)"
uid=$(id -u failoverd) || fail "no user failoverd"
[ "$uid" -lt 1000 ] || fail "failoverd is not a system user (uid $uid)"
[ "$(stat -c %U:%G:%a /var/lib/failoverd)" = failoverd:failoverd:750 ] ||
    fail "/var/lib/failoverd is $(stat -c %U:%G:%a /var/lib/failoverd), not failoverd:failoverd:750"
ok "system user failoverd (uid $uid, shell $(getent passwd failoverd | cut -d: -f7)), /var/lib/failoverd failoverd:failoverd 750"

step "man pages (generated from the clap definition)"
page() { # the page as text: man -l when man-db is installed, else the roff without escapes
    if command -v man >/dev/null; then
        MANWIDTH=200 man -l "$1" 2>/dev/null | col -b 2>/dev/null || MANWIDTH=200 man -l "$1"
    else
        zcat "$1" | sed 's/\\-/-/g; s/\\f[BIRP]//g'
    fi
}
page /usr/share/man/man1/failoverd.1.gz | grep -q -- '--check-config' || fail "failoverd(1) lacks --check-config"
page /usr/share/man/man1/failoverd.1.gz | grep -q '/var/lib/failoverd' || fail "failoverd(1) lacks FILES"
page /usr/share/man/man1/failoverd-run.1.gz | grep -q -- '--config' || fail "failoverd-run(1) lacks --config"
page /usr/share/man/man1/failoverd-ctl.1.gz | grep -q -- '--socket' || fail "failoverd-ctl(1) lacks --socket"
ok "failoverd(1) has --check-config and FILES, failoverd-run(1) --config, failoverd-ctl(1) --socket ($(command -v man >/dev/null && echo 'man -l' || echo zcat))"

step "completions"
# shellcheck disable=SC1091
bash -c 'source /usr/share/bash-completion/completions/failoverd && complete -p failoverd' >/dev/null ||
    fail "the bash completion does not register failoverd"
grep -q '^#compdef failoverd' /usr/share/zsh/vendor-completions/_failoverd || fail "zsh completion"
grep -q 'complete -c failoverd' /usr/share/fish/vendor_completions.d/failoverd.fish || fail "fish completion"
ok "bash registers 'complete ... failoverd'; zsh #compdef failoverd; fish complete -c failoverd"

unit=/usr/lib/systemd/system/failoverd.service
step "the unit $unit"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify --man=no "$unit" >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify"; }
    ok "systemd-analyze verify: no complaint"
else
    ok "systemd-analyze not installed: verify skipped (the unit is still run below)"
fi
key() { sed -n "s/^$1=//p" "$unit" | tail -1; }
exec_start=$(key ExecStart)
user=$(key User)
ambient=$(key AmbientCapabilities)
bounding=$(key CapabilityBoundingSet)
umask_=$(key UMask)
[ -n "$exec_start" ] && [ "$user" = failoverd ] && [ -n "$ambient" ] || fail "unit: ExecStart, User or AmbientCapabilities missing"
grep -q '^ExecReload=' "$unit" && fail "unit has ExecReload, but failoverd has no reload"
grep -q "^StateDirectory=failoverd$" "$unit" && grep -q "^RuntimeDirectory=failoverd$" "$unit" ||
    fail "unit: StateDirectory/RuntimeDirectory"
ok "ExecStart=$exec_start; User=$user; AmbientCapabilities=$ambient; CapabilityBoundingSet=$bounding; UMask=$umask_"
# setpriv capability lists: CAP_NET_BIND_SERVICE -> +net_bind_service
caps() { local out="-all" c; for c in $1; do c=${c#CAP_}; out="$out,+${c,,}"; done; echo "$out"; }

step "network namespace $ns: lo, a veth pair fo-pkg0/fo-pkg1 (the DHCP interfaces)"
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add fo-pkg0 type veth peer name fo-pkg1
ip -n "$ns" addr add 2001:db8:1::1/64 dev fo-pkg0 nodad
ip -n "$ns" addr add 2001:db8:1::2/64 dev fo-pkg1 nodad
ip -n "$ns" link set fo-pkg0 up
ip -n "$ns" link set fo-pkg1 up
ok "namespace ready"

step "configurations: the installed $conf as the primary, the installed example secondary"
# The primary runs the unit's ExecStart as it is, so its configuration is the installed
# conffile itself, adapted (restored by the purge): the RFC's ports, a multicast interface.
adapt() { # file port-of-partner-or-listen interface
    sed -e 's/^partner_port = .*/partner_port = 647/' \
        -e 's/^port = 16470\b.*/port = 647/' \
        -e 's/^port = 1547[01]\b.*/port = 547/' "$1"
    printf '\n[[dhcp.interfaces]]\nname = "%s"\n' "$2"
}
adapt "$conf" fo-pkg0 >"$work/primary.toml"
cp "$work/primary.toml" "$conf"
adapt /usr/share/doc/failoverd/examples/secondary.toml fo-pkg1 |
    sed -e 's|^data_dir = .*|data_dir = "/var/lib/failoverd/secondary"|' \
        -e 's|^control_socket = .*|control_socket = "/run/failoverd/secondary.sock"|' \
        -e 's|^listen_addresses = .*|listen_addresses = ["2001:db8:1::2"]|' >"$work/secondary.toml"
chmod 644 "$work/secondary.toml"
chmod 755 "$work"
for f in "$conf" "$work/secondary.toml"; do
    /usr/bin/failoverd check-config "$f" >/dev/null || fail "$f does not validate"
done
[ "$(grep -c '^port = 547$' "$conf")" = 1 ] && grep -q '^partner_port = 647$' "$conf" &&
    [ "$(grep -c '^port = 547$' "$work/secondary.toml")" = 1 ] && grep -q '^port = 647$' "$work/secondary.toml" ||
    fail "adapting the configurations to ports 547/647"
ok "primary: DHCP 547 on fo-pkg0 and ::1, partner [::1]:647; secondary: DHCP 547 on fo-pkg1, listens on [::1]:647"

# What systemd does before ExecStart: RuntimeDirectory=failoverd (StateDirectory exists).
install -d -o failoverd -g failoverd -m 0750 /run/failoverd
start() { # name command...
    local name=$1
    shift
    (
        umask "${umask_:-0077}"
        exec ip netns exec "$ns" setpriv --reuid=failoverd --regid=failoverd --init-groups \
            --inh-caps="$(caps "$ambient")" --ambient-caps="$(caps "$ambient")" \
            --bounding-set="$(caps "$bounding")" --no-new-privs -- "$@"
    ) >"$work/$name.log" 2>&1 &
    pids+=($!)
    started=$!
}
read -r -a argv <<<"$exec_start"
step "starting the secondary, then the primary: '$exec_start' as failoverd with only ${ambient}"
start secondary "${argv[@]/$conf/$work/secondary.toml}"
sec_pid=$started
start primary "${argv[@]}"
prim_pid=$started

ctl() { /usr/bin/failoverd ctl --socket "$1" status 2>/dev/null; }
state_of() { ctl "$1" | sed -n 's/^ *"state-name": "\([A-Z-]*\)",\{0,1\}$/\1/p' | head -1; }
for _ in $(seq 100); do
    [ -S /run/failoverd/failoverd.sock ] && [ -S /run/failoverd/secondary.sock ] &&
        [ -n "$(state_of /run/failoverd/failoverd.sock)" ] && [ -n "$(state_of /run/failoverd/secondary.sock)" ] && break
    kill -0 "$prim_pid" 2>/dev/null || fail "the primary exited (log above)"
    kill -0 "$sec_pid" 2>/dev/null || fail "the secondary exited (log above)"
    sleep 0.2
done
[ -n "$(state_of /run/failoverd/failoverd.sock)" ] || fail "failoverd ctl status: no state from the primary within 20 s"
ok "failoverd ctl --socket /run/failoverd/failoverd.sock status: state $(state_of /run/failoverd/failoverd.sock)"
ok "secondary: state $(state_of /run/failoverd/secondary.sock)"

step "the running process"
exe=$(readlink "/proc/$prim_pid/exe")
[ "$exe" = /usr/bin/failoverd ] || fail "PID $prim_pid is $exe, not /usr/bin/failoverd"
puser=$(ps -o user= -p "$prim_pid")
[ "$puser" = failoverd ] || fail "the primary runs as $puser"
capeff=$(sed -n 's/^CapEff:\s*//p' "/proc/$prim_pid/status")
[ "$capeff" = 0000000000000400 ] || fail "CapEff $capeff, expected only CAP_NET_BIND_SERVICE (0x400)"
[ "$(stat -c %U:%a /run/failoverd/failoverd.sock)" = failoverd:600 ] || fail "control socket owner/mode"
store=/var/lib/failoverd/leases.redb
[ "$(stat -c %U /var/lib/failoverd/leases.redb)" = failoverd ] || fail "$store is not failoverd's"
ss_out=$(ip netns exec "$ns" ss -H -lnup; ip netns exec "$ns" ss -H -lntp)
for pid in "$prim_pid" "$sec_pid"; do
    grep -q ":547 .*pid=$pid," <<<"$ss_out" || fail "PID $pid does not listen on UDP 547"
done
grep -q ":647 .*pid=$sec_pid," <<<"$ss_out" || fail "the secondary does not listen on TCP 647"
for dev in fo-pkg0 fo-pkg1; do
    ip -n "$ns" -6 maddr show dev "$dev" | grep -q 'ff02::1:2$' || fail "ff02::1:2 not joined on $dev"
done
unpriv=$(ip netns exec "$ns" sysctl -n net.ipv4.ip_unprivileged_port_start)
[ "$unpriv" -gt 647 ] || fail "ip_unprivileged_port_start is $unpriv in $ns: the capability would not be tested"
ok "PID $prim_pid: /usr/bin/failoverd as user failoverd, CapEff $capeff (CAP_NET_BIND_SERVICE only)"
ok "both bound UDP 547, the secondary TCP 647 in $ns (unprivileged ports start at $unpriv there), ff02::1:2 joined on fo-pkg0/fo-pkg1; store $store and socket (600) are failoverd's"

step "waiting (up to 90 s) for the pair to reach NORMAL over the partner link [::1]:647"
for _ in $(seq 450); do
    [ "$(state_of /run/failoverd/failoverd.sock)" = NORMAL ] && [ "$(state_of /run/failoverd/secondary.sock)" = NORMAL ] && break
    sleep 0.2
done
p=$(state_of /run/failoverd/failoverd.sock)
s=$(state_of /run/failoverd/secondary.sock)
[ "$p" = NORMAL ] && [ "$s" = NORMAL ] || fail "primary $p, secondary $s after 90 s"
ok "primary NORMAL, secondary NORMAL"
echo "test-deb: PASSED"
