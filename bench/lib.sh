# bench/lib.sh — helpers shared by the benchmark scripts. Source it, don't run it.
# shellcheck shell=bash

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="$(cd "$BENCH_DIR/.." && pwd)"
VENV_DIR="$ROOT_DIR/.bench-deps/venv"
MITMDUMP="${MITMDUMP:-$VENV_DIR/bin/mitmdump}"
PHONEHOME="${PHONEHOME:-$ROOT_DIR/target/release/phonehome}"
HEY="${HEY:-hey}"
NGINX="${NGINX:-$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- checks -----------------------------------------------------------------
require_tools() {
    local missing=()
    local t
    for t in "$@"; do
        case "$t" in
            nginx) [ -x "$NGINX" ] || missing+=(nginx) ;;
            mitmdump) [ -x "$MITMDUMP" ] || missing+=(mitmdump) ;;
            *) command -v "$t" >/dev/null 2>&1 || missing+=("$t") ;;
        esac
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        die "missing: ${missing[*]} — run bench/setup first"
    fi
}

have_phonehome() { [ -x "$PHONEHOME" ]; }

# ---- temp dir + cleanup -----------------------------------------------------
# Every background process we start is recorded here and killed on exit.
BG_PIDS=()
WORK=""

bench_init() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/phonehome-bench.XXXXXX")"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${BG_PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$WORK" ] && [ -z "${BENCH_KEEP:-}" ]; then
        rm -rf "$WORK"
    elif [ -n "$WORK" ]; then
        log "kept work dir $WORK"
    fi
}

# ---- ports ------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [PID] [SECONDS] — wait until 127.0.0.1:PORT accepts connections.
wait_port() {
    local port="$1" pid="${2:-}" secs="${3:-30}" i
    for ((i = 0; i < secs * 20; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.05
    done
    return 1
}

# ---- memory -----------------------------------------------------------------
# Peak resident set size (VmHWM) of a live process, in KiB.
peak_rss_kib() {
    awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo ""
}

kib_to_mib() {
    [ -n "$1" ] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' || echo "n/a"
}

# CPU seconds (user+sys) used so far by a live process.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{
        # field 2 (comm) may contain spaces; count from the end-of-comm ")"
        sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo ""
}

# stop_pid PID — SIGINT, then SIGTERM, then SIGKILL; waits for it.
stop_pid() {
    local pid="$1" i
    kill -INT "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# ---- certificates -----------------------------------------------------------
# gen_certs DIR — throwaway CA (DIR/ca.pem, DIR/ca.key) and a server cert for
# 127.0.0.1 / localhost / ::1 signed by it (DIR/server.pem = leaf + CA, DIR/server.key).
# ECDSA P-256 keys, 2 days validity.
gen_certs() {
    local d="$1"
    mkdir -p "$d"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=phonehome bench throwaway CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" 2>/dev/null
    cat > "$d/server.ext" <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,IP:::1
EXT
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -out "$d/server.crt" -days 2 -extfile "$d/server.ext" 2>/dev/null
    cat "$d/server.crt" "$d/ca.pem" > "$d/server.pem"
}

# ---- nginx ------------------------------------------------------------------
# start_nginx DIR PORT [H2_PORT] — nginx with its own config/prefix under DIR, TLS on
# 127.0.0.1:PORT (HTTP/1.1 only), serving DIR/www (1k = 1 KiB file; 1g created by the caller).
# With H2_PORT, the same site also on 127.0.0.1:H2_PORT with HTTP/2 offered by ALPN
# (`listen ... ssl http2`, which nginx from 1.9.5 on understands).
# worker_processes 1: on a 2-core box the load generator and the proxy need the
# other core; one nginx worker serves a 1 KiB static file far faster than any
# proxy under test, so it is not the bottleneck. Sets NGINX_PID.
NGINX_PID=""
start_nginx() {
    local d="$1" port="$2" h2_port="${3:-}" user_line="" h2_server=""
    mkdir -p "$d/www" "$d/tmp" "$d/logs"
    [ -f "$d/www/1k" ] || head -c 1024 /dev/zero | tr '\0' 'x' > "$d/www/1k"
    # As root the master would switch workers to "nobody", who can't read our
    # 0700 temp dir; keep the workers as the invoking user.
    if [ "$(id -u)" -eq 0 ]; then user_line="user root root;"; fi
    if [ -n "$h2_port" ]; then
        h2_server="server {
        listen 127.0.0.1:$h2_port ssl http2;
        server_name localhost;
        ssl_certificate $d/server.pem;
        ssl_certificate_key $d/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $d/www;
        location / { }
    }"
    fi
    cat > "$d/nginx.conf" <<CONF
$user_line
worker_processes 1;
worker_rlimit_nofile ${NGX_CONNECTIONS:-4096};
daemon off;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections ${NGX_CONNECTIONS:-4096}; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    types { text/plain 1k; application/octet-stream 1g; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port ssl;
        http2 off;
        server_name localhost;
        ssl_certificate $d/server.pem;
        ssl_certificate_key $d/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:1m;
        root $d/www;
        location / { }
    }
    $h2_server
}
CONF
    # "http2 off;" as a directive needs nginx >= 1.25.1; older nginx has
    # HTTP/2 off unless "listen ... http2" is given, so drop the line there.
    if ! "$NGINX" -t -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" >/dev/null 2>&1; then
        sed -i '/^        http2 off;$/d' "$d/nginx.conf"
    fi
    "$NGINX" -t -q -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" || die "nginx config test failed"
    "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" &
    NGINX_PID=$!
    BG_PIDS+=("$NGINX_PID")
    wait_port "$port" "$NGINX_PID" 10 || die "nginx did not start (see $d/logs/error.log)"
    if [ -n "$h2_port" ]; then
        wait_port "$h2_port" "$NGINX_PID" 10 || die "nginx did not listen on $h2_port"
    fi
}

# ---- proxies ----------------------------------------------------------------
# start_phonehome DIR PORT UPSTREAM_CA [ARGS...] — phonehome proxy on 127.0.0.1:PORT,
# CA in DIR/ca, capture to DIR/capture.jsonl, trusting UPSTREAM_CA upstream; ARGS are
# passed on (a policy, --no-attribution).
# Sets PH_PID and PH_CA (path of the CA cert clients must trust).
PH_PID=""
PH_CA=""
start_phonehome() {
    local d="$1" port="$2" upstream_ca="$3" p
    shift 3
    mkdir -p "$d/ca"
    p="$("$PHONEHOME" ca --ca-dir "$d/ca" path 2>"$d/ca.log" | tail -n 1)" || true
    if [ -n "$p" ] && [ -f "$p" ]; then PH_CA="$p"; else PH_CA="$d/ca/ca.pem"; fi
    "$PHONEHOME" proxy --listen "127.0.0.1:$port" --out "$d/capture.jsonl" \
        --ca-dir "$d/ca" --extra-ca "$upstream_ca" "$@" >"$d/phonehome.log" 2>&1 &
    PH_PID=$!
    BG_PIDS+=("$PH_PID")
    if ! wait_port "$port" "$PH_PID" 30; then
        tail -n 20 "$d/phonehome.log" >&2
        die "phonehome proxy did not start"
    fi
    [ -f "$PH_CA" ] || PH_CA="$d/ca/ca.pem"
}

# start_mitmdump DIR PORT UPSTREAM_CA [EXTRA --set ARGS...] — mitmdump on
# 127.0.0.1:PORT, quiet, its own confdir (so ~/.mitmproxy is untouched), no
# flow file. Upstream verification: trusts UPSTREAM_CA via
# ssl_verify_upstream_trusted_ca (MITM_INSECURE=1 uses --ssl-insecure instead).
# Sets MITM_PID and MITM_CA.
MITM_PID=""
MITM_CA=""
start_mitmdump() {
    local d="$1" port="$2" upstream_ca="$3"
    shift 3
    local verify=(--set "ssl_verify_upstream_trusted_ca=$upstream_ca")
    [ -n "${MITM_INSECURE:-}" ] && verify=(--ssl-insecure)
    mkdir -p "$d/mitm-conf"
    "$MITMDUMP" --listen-host 127.0.0.1 --listen-port "$port" -q \
        --set "confdir=$d/mitm-conf" "${verify[@]}" \
        --set flow_detail=0 --set termlog_verbosity=error "$@" >"$d/mitmdump.log" 2>&1 &
    MITM_PID=$!
    BG_PIDS+=("$MITM_PID")
    if ! wait_port "$port" "$MITM_PID" 60; then
        tail -n 20 "$d/mitmdump.log" >&2
        die "mitmdump did not start"
    fi
    MITM_CA="$d/mitm-conf/mitmproxy-ca-cert.pem"
}

# ---- hey --------------------------------------------------------------------
# parse_hey FILE — prints "rps p50_ms p99_ms ok_count total_count" from hey's summary.
parse_hey() {
    awk -v want="[${EXPECT_STATUS:-200}]" '
        /Requests\/sec:/ { rps = $2 }
        /^ *50% in / { p50 = $3 * 1000 }
        /^ *99% in / { p99 = $3 * 1000 }
        /Status code distribution:/ { sec = "status"; next }
        /Error distribution:/ { sec = "error"; next }
        sec == "status" && /^ *\[[0-9]+\]/ { total += $2; if ($1 == want) ok += $2 }
        sec == "error" && /^ *\[[0-9]+\]/ { c = $1; gsub(/[\[\]]/, "", c); total += c }
        END {
            printf "%s %s %s %d %d\n", (rps == "" ? "n/a" : sprintf("%.0f", rps)),
                (p50 == "" ? "n/a" : sprintf("%.2f", p50)),
                (p99 == "" ? "n/a" : sprintf("%.2f", p99)), ok, total
        }' "$1"
}
