#!/usr/bin/env bash
# bench/run.sh: failoverd pair vs failoverd alone vs ISC Kea alone vs Kea HA hot-standby vs a
# minimal responder, driven by perfdhcp -6 from a client network namespace; plus failoverd's
# memory and restart time with 100k / 1M leases. See docs/performance.md.
#
#   bench/run.sh                 full run (< 15 min), writes bench/out/<stamp>/{results.csv,
#                                store.csv,report.md}
#   bench/run.sh --smoke         each system a few seconds at one low rate; exits non-zero if
#                                any system serves nothing (for CI)
#   bench/run.sh --leases-only   only the memory and restart step (no perfdhcp, no Kea, no
#                                model checker); with --bin-dir, of another build
#   options: --out DIR  --step SECONDS  --systems "fo-pair fo-alone kea-alone kea-ha ceiling"
#            --modes "address-only address-and-prefix"  --leases "100000 1000000"  --no-build
#            --no-checker (skip the model checker's states/s on configuration ci)
#            --bin-dir DIR (failoverd and failover-bench from DIR, e.g. a baseline's
#            target/release; implies --no-build)
#            --docs (replace the report in docs/performance.md, between its bench markers)
#            --fo-window N (the pair's max_unacked_bndupd on both servers; default: the
#            configuration's default)
#
# Needs root (network namespaces), perfdhcp and kea-dhcp6 (bench/ci-setup.sh installs them).
# Everything it creates (namespaces, processes, files under the output directory) is its own;
# every namespace name carries this shell's PID; all of it is removed on exit. Traffic stays
# inside those namespaces.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMOKE=0
OUT=""
STEP=5
SYSTEMS="fo-pair fo-alone kea-alone kea-ha ceiling"
MODES="address-only address-and-prefix"
LEASES="100000 1000000"
BUILD=1
CHECKER=1
DOCS=0
MAX_LOSS=0.1
LEASES_ONLY=0
BIN_DIR=""
FO_WINDOW=""
CMDLINE="bench/run.sh $*"
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --out) OUT=$2; shift ;;
        --step) STEP=$2; shift ;;
        --systems) SYSTEMS=$2; shift ;;
        --modes) MODES=$2; shift ;;
        --leases) LEASES=$2; shift ;;
        --no-build) BUILD=0 ;;
        --no-checker) CHECKER=0 ;;
        --docs) DOCS=1 ;;
        --fo-window) FO_WINDOW=$2; shift ;;
        --leases-only) LEASES_ONLY=1 ;;
        --bin-dir) BIN_DIR=$2; BUILD=0; shift ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$SMOKE" = 1 ]; then
    STEP=2
    LEASES="${SMOKE_LEASES:-10000}"
    CHECKER=0
fi
TOOLS="perfdhcp kea-dhcp6 ip python3"
if [ "$LEASES_ONLY" = 1 ]; then
    [ "$DOCS" = 0 ] || { echo "run.sh: --docs needs the full run, not --leases-only" >&2; exit 2; }
    SYSTEMS=""
    CHECKER=0
    TOOLS="ip python3"
fi
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (network namespaces)" >&2; exit 2; }
for t in $TOOLS; do
    command -v "$t" >/dev/null || { echo "run.sh: $t not found (run bench/ci-setup.sh)" >&2; exit 2; }
done
HOOKS=$(dirname "$(dpkg -L kea-common 2>/dev/null | grep -m1 'libdhcp_ha.so$' || echo /usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so)")

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/bench/out/$STAMP}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=$(mktemp -d /tmp/fobench.$$.XXXX)
CSV=$OUT/results.csv
SCSV=$OUT/store.csv
META=$OUT/meta.txt
LOG=$OUT/run.log
: > "$LOG"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

if [ "$BUILD" = 1 ]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -q -p failover-runtime --bins) >>"$LOG" 2>&1
    if [ "$CHECKER" = 1 ]; then
        (cd "$ROOT" && cargo build --release -q -p failover-specs --bin failover-check) >>"$LOG" 2>&1
    fi
fi
BIN=${BIN_DIR:-$ROOT/target/release}
BIN=$(cd "$BIN" && pwd)
FOD=$BIN/failoverd
FOB=$BIN/failover-bench
[ -x "$FOD" ] && [ -x "$FOB" ] || { echo "run.sh: build $FOD and $FOB first" >&2; exit 2; }

NS_BR=fob-br-$$
NS_CL=fob-cl-$$
NS_S1=fob-s1-$$
NS_S2=fob-s2-$$
PIDS=()

stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
stop_all() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    PIDS=()
}
cleanup() {
    set +e
    stop_all
    for ns in "$NS_CL" "$NS_S1" "$NS_S2" "$NS_BR"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# --- network: a bridge namespace, a client namespace and two server namespaces -------------
setup_net() {
    local ns
    for ns in "$NS_BR" "$NS_CL" "$NS_S1" "$NS_S2"; do
        ip netns add "$ns"
        in_ns "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_BR" link add br0 type bridge mcast_snooping 0
    ip -n "$NS_BR" link set br0 up
    local pair
    for pair in "$NS_CL:c0:2001:db8:1::2" "$NS_S1:s0:2001:db8:1::11" "$NS_S2:s0:2001:db8:1::12"; do
        ns=${pair%%:*}; local rest=${pair#*:}; local dev=${rest%%:*}; local addr=${rest#*:}
        local peer=p${ns##*-}${ns:4:2}
        ip -n "$NS_BR" link add "$peer" type veth peer name "$dev" netns "$ns"
        ip -n "$NS_BR" link set "$peer" master br0 up
        in_ns "$ns" sysctl -qw "net.ipv6.conf.$dev.accept_dad=0"
        ip -n "$ns" addr add "$addr/64" dev "$dev" nodad
        ip -n "$ns" link set "$dev" up
    done
    # Wait for the link-local addresses (perfdhcp sends from them).
    for _ in $(seq 50); do
        if ip -n "$NS_CL" -6 addr show dev c0 scope link | grep -q inet6 \
            && ! ip -n "$NS_CL" -6 addr show tentative | grep -q inet6; then
            return 0
        fi
        sleep 0.1
    done
    echo "run.sh: no link-local address on c0" >&2
    return 1
}

# --- systems under test ------------------------------------------------------------------------
POOLS='
[[pools.addresses]]
first = "2001:db8:1:0:1::"
last = "2001:db8:1:0:1:ffff:ffff:ffff"

[[pools.prefixes]]
prefix = "2001:db8:100::/40"
delegated_length = 64

[lifetimes]
address = { preferred = 3000, valid = 4000 }
prefix = { preferred = 3000, valid = 4000 }'

fo_config() { # name role partner-address [extra failover lines]
    local name=$1 role=$2 partner=$3 extra=${4:-}
    local duid_last=01; [ "$role" = secondary ] && duid_last=02
    cat > "$W/$name.toml" <<EOF
role = "$role"
relationship = "bench"
server_duid = "00:02:00:00:09:bf:00:00:00:$duid_last"
data_dir = "$W/$name.data"
control_socket = "$W/$name.sock"

[log]
format = "text"
level = "warn"

[failover]
partner_address = "$partner"
mclt = 300
keepalive_time = 10
startup_time = 1
reconnect_interval = 1
tls = "off"
${FO_WINDOW:+max_unacked_bndupd = $FO_WINDOW}
$extra

[dhcp]
port = 547
rapid_commit = false
preference = 255

[[dhcp.interfaces]]
name = "s0"
$POOLS
EOF
}

fo_state() { # socket -> own state name or empty
    "$FOD" ctl --socket "$1" status 2>/dev/null \
        | python3 -c 'import json,sys
try:
    v=json.load(sys.stdin); a=v.get("arguments",{}); print(a.get("state-name") or "")
except Exception: print("")' 2>/dev/null || true
}

wait_fo_state() { # socket state timeout-seconds
    local end=$(( $(date +%s) + $3 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        [ "$(fo_state "$1")" = "$2" ] && return 0
        sleep 0.2
    done
    echo "run.sh: $1 did not reach $2 (state: $(fo_state "$1"))" >&2
    return 1
}

fo_metric() { # socket metric-line-prefix -> the value (0 if absent)
    "$FOD" ctl --socket "$1" metrics 2>/dev/null \
        | python3 -c 'import json,sys
want=sys.argv[1]
try:
    text=json.load(sys.stdin)["arguments"]["text"]
except Exception:
    text=""
v=[l.split()[-1] for l in text.splitlines() if l.startswith(want+" ")]
print(v[0] if v else 0)' "$2" 2>/dev/null || echo 0
}

start_bg() { # ns logfile cmd...
    local ns=$1 logf=$2; shift 2
    ip netns exec "$ns" "$@" >"$logf" 2>&1 &
    PIDS+=($!)
}

kea_config() { # name server-ns-index ha(0|1)
    local name=$1 idx=$2 ha=$3
    local hooks=""
    if [ "$ha" = 1 ]; then
        local me=server1; [ "$idx" = 2 ] && me=server2
        hooks=',
    "hooks-libraries": [
      { "library": "'"$HOOKS"'/libdhcp_lease_cmds.so" },
      { "library": "'"$HOOKS"'/libdhcp_ha.so", "parameters": { "high-availability": [ {
          "this-server-name": "'"$me"'",
          "mode": "hot-standby",
          "heartbeat-delay": 10000,
          "max-response-delay": 60000,
          "max-ack-delay": 5000,
          "max-unacked-clients": 0,
          "multi-threading": { "enable-multi-threading": true, "http-dedicated-listener": true,
                               "http-listener-threads": 0, "http-client-threads": 0 },
          "peers": [
            { "name": "server1", "url": "http://[2001:db8:1::11]:8001/", "role": "primary", "auto-failover": true },
            { "name": "server2", "url": "http://[2001:db8:1::12]:8001/", "role": "standby", "auto-failover": true }
          ] } ] } }
    ]'
    fi
    cat > "$W/$name.json" <<EOF
{ "Dhcp6": {
    "interfaces-config": { "interfaces": [ "s0" ] },
    "control-socket": { "socket-type": "unix", "socket-name": "$W/$name.ctl" },
    "lease-database": { "type": "memfile", "persist": true, "name": "$W/$name.leases.csv", "lfc-interval": 0 },
    "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 64 },
    "server-id": { "type": "LL", "persist": false },
    "preferred-lifetime": 3000, "valid-lifetime": 4000, "renew-timer": 1000, "rebind-timer": 2000,
    "subnet6": [ { "id": 1, "subnet": "2001:db8:1::/64", "interface": "s0",
        "pools": [ { "pool": "2001:db8:1:0:1::/80" } ],
        "pd-pools": [ { "prefix": "2001:db8:100::", "prefix-len": 40, "delegated-len": 64 } ] } ],
    "loggers": [ { "name": "kea-dhcp6", "output_options": [ { "output": "$W/$name.log" } ], "severity": "WARN" } ]$hooks
} }
EOF
}

kea_cmd() { # socket json
    python3 - "$1" "$2" <<'EOF' 2>/dev/null || true
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode())
d = b""
while True:
    c = s.recv(65536)
    if not c: break
    d += c
print(d.decode())
EOF
}

wait_kea_ha() { # socket timeout
    local end=$(( $(date +%s) + $2 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        if kea_cmd "$1" '{"command":"ha-heartbeat"}' | grep -q '"state": "hot-standby"'; then
            return 0
        fi
        sleep 0.2
    done
    echo "run.sh: Kea HA did not reach hot-standby: $(kea_cmd "$1" '{"command":"ha-heartbeat"}')" >&2
    return 1
}

wait_kea() { # socket timeout
    local end=$(( $(date +%s) + $2 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        kea_cmd "$1" '{"command":"version-get"}' | grep -q '"result": 0' && return 0
        sleep 0.2
    done
    echo "run.sh: kea did not answer on $1" >&2
    return 1
}

start_system() { # name
    rm -rf "$W"/*.data "$W"/*.sock "$W"/*.ctl "$W"/*.csv "$W"/*.csv.* 2>/dev/null || true
    export KEA_PIDFILE_DIR=$W KEA_LOCKFILE_DIR=$W
    case "$1" in
        fo-pair)
            fo_config fo-p primary 2001:db8:1::12 'partner_port = 647'
            fo_config fo-s secondary 2001:db8:1::11 'listen_address = "2001:db8:1::12"
port = 647'
            start_bg "$NS_S2" "$OUT/fo-s.log" "$FOD" run --config "$W/fo-s.toml"
            start_bg "$NS_S1" "$OUT/fo-p.log" "$FOD" run --config "$W/fo-p.toml"
            wait_fo_state "$W/fo-p.sock" NORMAL 30 || return 1
            wait_fo_state "$W/fo-s.sock" NORMAL 30 || return 1 ;;
        fo-alone)
            # No partner: nothing listens on [::1]:6479. A brand-new server that never reached
            # its partner goes to PARTNER-DOWN after STARTUP (startup_partner_down_if_alone).
            fo_config fo-a primary ::1 'partner_port = 6479
startup_partner_down_if_alone = true'
            start_bg "$NS_S1" "$OUT/fo-a.log" "$FOD" run --config "$W/fo-a.toml"
            wait_fo_state "$W/fo-a.sock" PARTNER-DOWN 30 || return 1 ;;
        kea-alone)
            kea_config kea-a 1 0
            start_bg "$NS_S1" "$OUT/kea-a.out" kea-dhcp6 -c "$W/kea-a.json"
            wait_kea "$W/kea-a.ctl" 20 || return 1 ;;
        kea-ha)
            kea_config kea-h1 1 1
            kea_config kea-h2 2 1
            start_bg "$NS_S2" "$OUT/kea-h2.out" kea-dhcp6 -c "$W/kea-h2.json"
            start_bg "$NS_S1" "$OUT/kea-h1.out" kea-dhcp6 -c "$W/kea-h1.json"
            wait_kea "$W/kea-h1.ctl" 20 || return 1
            wait_kea "$W/kea-h2.ctl" 20 || return 1
            wait_kea_ha "$W/kea-h1.ctl" 60 || return 1 ;;
        ceiling)
            start_bg "$NS_S1" "$OUT/ceiling.log" "$FOB" responder --interface s0 --max-seconds 900
            sleep 0.5 ;;
        *) echo "run.sh: unknown system $1" >&2; return 1 ;;
    esac
    # Every process of the system must still be alive.
    local p
    for p in "${PIDS[@]}"; do kill -0 "$p" || { echo "run.sh: $1 died at start" >&2; return 1; }; done
}

# --- perfdhcp ----------------------------------------------------------------------------------
echo "system,mode,offered,step_s,sa_sent,sa_recv,sa_drops,rr_sent,rr_recv,rr_drops,rejected,rate,sa_min_ms,sa_avg_ms,sa_max_ms,sa_std_ms,rr_min_ms,rr_avg_ms,rr_max_ms,rr_std_ms,loss_pct,acked,backlog" > "$CSV"
LAST_LOSS=100
LAST_RR=0
probe() { # system mode rate
    local sys=$1 mode=$2 rate=$3
    local f="$OUT/perfdhcp.$sys.$mode.$rate.txt"
    # -R: clients drawn from 10M DUIDs; -d 1: a 1 s drop time; -W: 1.5 s to collect stragglers.
    # For the pair: the updates the partner acknowledged during the step (BNDREPLYs the
    # primary received) and the primary's backlog (bindings not yet acked) when perfdhcp ends.
    local acked0="" acked="" backlog=""
    [ "$sys" = fo-pair ] && acked0=$(fo_metric "$W/fo-p.sock" 'failoverd_partner_messages_in_total{type="BNDREPLY"}')
    timeout $(( STEP + 20 )) ip netns exec "$NS_CL" perfdhcp -6 -l c0 -r "$rate" -R 10000000 \
        -p "$STEP" -d 1 -W 1500000 -e "$mode" >"$f" 2>&1 || true
    if [ "$sys" = fo-pair ]; then
        acked=$(( $(fo_metric "$W/fo-p.sock" 'failoverd_partner_messages_in_total{type="BNDREPLY"}') - acked0 ))
        backlog=$(fo_metric "$W/fo-p.sock" failoverd_pending_updates)
        # Let the backlog drain before the next step, so that each step starts level.
        local i
        for i in $(seq 100); do
            [ "$(fo_metric "$W/fo-p.sock" failoverd_pending_updates)" = 0 ] && break
            sleep 0.2
        done
    fi
    local row
    row=$(python3 "$ROOT/bench/report.py" parse "$f" "$STEP")
    echo "$sys,$mode,$rate,$STEP,$row,$acked,$backlog" >> "$CSV"
    LAST_LOSS=$(echo "$row" | awk -F, '{print $NF}')
    LAST_RR=$(echo "$row" | awk -F, '{print $5}')
    local r; r=$(echo "$row" | awk -F, '{print $8}')
    log "  $sys $mode offered $rate/s: $r exchanges/s, loss $LAST_LOSS%${acked:+, partner acked $acked updates, backlog $backlog}"
}
passes() { awk -v l="$LAST_LOSS" -v m="$MAX_LOSS" -v rr="$LAST_RR" 'BEGIN{exit !(l<=m && rr>0)}'; }

sweep() { # system mode
    local sys=$1 mode=$2
    if [ "$SMOKE" = 1 ]; then
        probe "$sys" "$mode" 100
        return 0
    fi
    # Double from 250/s until a step loses more than MAX_LOSS (or 64000/s), then bisect twice.
    # A failed step is tried once more before it counts (the machine may be shared).
    local good=0 bad=0 rate=250
    while [ "$rate" -le 64000 ]; do
        probe "$sys" "$mode" "$rate"
        passes || probe "$sys" "$mode" "$rate"
        if passes; then good=$rate; rate=$(( rate * 2 )); else bad=$rate; break; fi
    done
    [ "$bad" = 0 ] && return 0
    local i mid
    for i in 1 2; do
        mid=$(( (good + bad) / 2 ))
        [ "$mid" -le "$good" ] && break
        probe "$sys" "$mode" "$mid"
        if passes; then good=$mid; else bad=$mid; fi
    done
}

save_metrics() { # system mode: failoverd's own counters (commit batch sizes, drops) for the record
    local sock
    for sock in "$W"/fo-*.sock; do
        [ -S "$sock" ] || continue
        "$FOD" ctl --socket "$sock" metrics 2>/dev/null \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["arguments"]["text"])' \
            > "$OUT/metrics.$1.$2.$(basename "$sock" .sock).txt" 2>/dev/null || true
    done
}

# --- memory and restart with N leases ------------------------------------------------------
echo "leases,store_mib,populate_s,restart_s,rss_mib,hwm_mib" > "$SCSV"
store_bench() { # n
    local n=$1
    rm -rf "$W"/fo-m.data "$W"/fo-m.sock
    fo_config fo-m primary ::1 'partner_port = 6479
startup_partner_down_if_alone = true'
    local t0 t1
    t0=$(date +%s.%N)
    "$FOB" populate --config "$W/fo-m.toml" --leases "$n" >>"$LOG" 2>&1
    t1=$(date +%s.%N)
    local pop; pop=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    local mib; mib=$(du -m "$W/fo-m.data/leases.redb" | cut -f1)
    t0=$(date +%s.%N)
    start_bg "$NS_S1" "$OUT/fo-m.$n.log" "$FOD" run --config "$W/fo-m.toml"
    local pid=${PIDS[-1]} ok=0
    for _ in $(seq 1200); do
        if "$FOD" ctl --socket "$W/fo-m.sock" status >/dev/null 2>&1; then ok=1; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    t1=$(date +%s.%N)
    local rs; rs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
    [ "$ok" = 1 ] || rs=failed
    local rss hwm
    rss=$(awk '/^VmRSS/{printf "%.0f", $2/1024}' "/proc/$pid/status" 2>/dev/null || echo "?")
    hwm=$(awk '/^VmHWM/{printf "%.0f", $2/1024}' "/proc/$pid/status" 2>/dev/null || echo "?")
    stop_all
    echo "$n,$mib,$pop,$rs,$rss,$hwm" >> "$SCSV"
    log "  $n leases: store $mib MiB, populate $pop s, restart $rs s, RSS $rss MiB (peak $hwm MiB)"
    # The restart's phases (open and read the store, restore the endpoint), in-process.
    if "$FOB" restore --config "$W/fo-m.toml" > "$OUT/restore.$n.txt" 2>&1; then
        log "  $n leases, phases: $(cat "$OUT/restore.$n.txt")"
    fi
    [ "$ok" = 1 ]
}

# --- the run -----------------------------------------------------------------------------------
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine=$(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "cores=$(nproc)"
    echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "command=$CMDLINE"
    if [ "$LEASES_ONLY" = 1 ]; then
        echo "versions=$("$FOD" --version) ($FOD)"
    else
        echo "versions=$(perfdhcp -v 2>&1 | head -1 | sed 's/^/perfdhcp /'), kea-dhcp6 $(kea-dhcp6 -v 2>&1 | head -1), $("$FOD" --version)"
    fi
    echo "step_seconds=$STEP"
    echo "fo_window=${FO_WINDOW:-default}"
    echo "max_loss_pct=$MAX_LOSS"
} > "$META"
START=$(date +%s)
setup_net
log "namespaces $NS_BR $NS_CL $NS_S1 $NS_S2 up; output in $OUT"
FAILED=""
for sys in $SYSTEMS; do
    for mode in $MODES; do
        log "$sys, $mode"
        if ! start_system "$sys" >>"$LOG" 2>&1; then
            log "  $sys did not start (see $LOG and $OUT/*.log)"
            FAILED="$FAILED $sys/$mode"
            stop_all
            continue
        fi
        sweep "$sys" "$mode"
        save_metrics "$sys" "$mode"
        stop_all
        if ! awk -F, -v s="$sys" -v m="$mode" '$1==s && $2==m && $9>0 {found=1} END{exit !found}' "$CSV"; then
            FAILED="$FAILED $sys/$mode"
        fi
    done
done
for n in $LEASES; do
    log "store with $n leases"
    store_bench "$n" || FAILED="$FAILED store/$n"
done
if [ "$CHECKER" = 1 ] && [ -x "$ROOT/target/release/failover-check" ]; then
    # Checker throughput (states per second) on the CI configuration, bounded to 5 minutes.
    log "model checker, configuration ci"
    (cd "$ROOT" && timeout 300 target/release/failover-check check --config ci) > "$OUT/checker.txt" 2>&1 || true
    echo "checker=$(grep -m1 -E '^search ' "$OUT/checker.txt" || echo 'no result (see checker.txt)')" >> "$META"
    log "  $(grep -m1 -E '^search ' "$OUT/checker.txt" || echo 'checker: no result')"
fi
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$META"
echo "elapsed_s=$(( $(date +%s) - START ))" >> "$META"
python3 "$ROOT/bench/report.py" summarize "$CSV" "$SCSV" "$META" > "$OUT/report.md"
cat "$OUT/report.md"
if [ "$DOCS" = 1 ]; then
    python3 - "$ROOT/docs/performance.md" "$OUT/report.md" <<'PY'
import sys
doc, rep = sys.argv[1], sys.argv[2]
text = open(doc, encoding="utf-8").read()
a, b = "<!-- bench:begin -->", "<!-- bench:end -->"
i, j = text.index(a) + len(a), text.index(b)
open(doc, "w", encoding="utf-8").write(text[:i] + "\n" + open(rep, encoding="utf-8").read() + text[j:])
PY
    log "docs/performance.md updated"
fi
log "done in $(( $(date +%s) - START )) s; $OUT/report.md"
if [ -n "$FAILED" ]; then
    log "FAILED (served nothing or did not start):$FAILED"
    exit 1
fi
