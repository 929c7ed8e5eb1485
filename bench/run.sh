#!/usr/bin/env bash
# The gateway against a bare Go reverse proxy (bench/cmd/bareproxy) and
# nginx, in one run, on loopback, in front of the same fixed upstream
# (bench/cmd/upstream). See bench/README.md for what is measured and how to
# read it.
#
#   bench/run.sh                       # full run (~12 minutes on 2 vCPUs)
#   QUICK=1 bench/run.sh               # smoke test: 1s, 1 round, small seeds
#   DURATION=20s ROUNDS=5 USERS=1000000 SESSIONS=1000000 bench/run.sh
#   SCENARIOS="public session" bench/run.sh
#   RATE=3000 RATE_ROUNDS=5 bench/run.sh
#
# Settings (environment): DURATION (10s), ROUNDS (3), THREADS (2), CONNS
# (32), USERS and SESSIONS for the "many users" scenario (100000 each),
# NGINX_WORKERS (auto), SCENARIOS (all: public session denied bearer
# routes1000 manyusers), KEEP=1 keeps the work directory (configs, logs,
# every wrk output). Exit status 1 if any scenario failed its checks.
#
# After the wrk scenarios, the open-loop section (bench/cmd/rate): the same
# requests at a fixed rate below saturation, latency measured from each
# request's scheduled time, bare proxy and gateway interleaved; "added" is
# the gateway's latency minus the bare proxy's. RATE (2000 req/s; 0 skips
# it), RATE_ROUNDS (3), RATE_DURATION (10s), RATE_WARMUP (1s),
# RATE_SCENARIOS (those of "public session" in SCENARIOS), RATE_TARGETS
# ("bare gateway"; nginx may be added).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	DURATION=${DURATION:-1s} ROUNDS=${ROUNDS:-1} USERS=${USERS:-2000} SESSIONS=${SESSIONS:-2000}
	RATE_DURATION=${RATE_DURATION:-2s} RATE_ROUNDS=${RATE_ROUNDS:-1}
else
	DURATION=${DURATION:-10s} ROUNDS=${ROUNDS:-3} USERS=${USERS:-100000} SESSIONS=${SESSIONS:-100000}
	RATE_DURATION=${RATE_DURATION:-10s} RATE_ROUNDS=${RATE_ROUNDS:-3}
fi
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
SCENARIOS=${SCENARIOS:-public session denied bearer routes1000 manyusers rotate1k rotateall}
KEEP=${KEEP:-0}
PROFILE=${PROFILE:-0}
TARGETS=(bare nginx gateway)
RATE=${RATE:-2000}
RATE_WARMUP=${RATE_WARMUP:-1s}
RATE_TARGETS=${RATE_TARGETS:-bare gateway}
if [ -z "${RATE_SCENARIOS+x}" ]; then
	RATE_SCENARIOS=""
	for s in public session; do
		case " $SCENARIOS " in *" $s "*) RATE_SCENARIOS="$RATE_SCENARIOS${RATE_SCENARIOS:+ }$s" ;; esac
	done
fi

for tool in go wrk nginx redis-server redis-cli curl openssl; do
	command -v "$tool" >/dev/null || {
		echo "run.sh: $tool not found (Debian: apt-get install -y wrk nginx-light redis-server curl openssl)" >&2
		exit 1
	}
done

T0=$(date +%s)
WORK=$(mktemp -d /tmp/gwbench.XXXXXX)
mkdir -p "$WORK/bin" "$WORK/raw" "$WORK/nginx" "$WORK/redis" "$WORK/logs"
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "# $*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }

# A free loopback port: random below the kernel's ephemeral range (so no
# outgoing connection of this run can take it), used by no socket, not
# handed out before.
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
USED_PORTS=" "
free_port() {
	local p lo=10000 hi=$((EPHEMERAL_LOW - 1))
	[ "$hi" -gt "$lo" ] || { lo=20000; hi=30000; }
	while :; do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
		case "$USED_PORTS" in *" $p "*) continue ;; esac
		if command -v ss >/dev/null; then
			[ -z "$(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null)" ] || continue
		elif (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			continue
		fi
		USED_PORTS="$USED_PORTS$p "
		echo "$p"
		return
	done
}

# wait_http PORT PATH NAME PID: until PORT answers anything on PATH.
wait_http() {
	local i
	for i in $(seq 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$1$2"; then return 0; fi
		kill -0 "$4" 2>/dev/null || break
		sleep 0.1
	done
	echo "run.sh: $3 did not come up on port $1; its log:" >&2
	cat "$WORK/logs/$3.log" >&2 || true
	exit 1
}

start() { # NAME CMD...: start in the background, log to logs/NAME.log
	local name=$1
	shift
	"$@" >"$WORK/logs/$name.log" 2>&1 &
	PIDS+=($!)
	LAST_PID=$!
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
rss_kb() { local v; v=$(ps -o rss= -p "$1" 2>/dev/null | tr -d ' ') || true; echo "${v:-0}"; }

# ---------------------------------------------------------------- build
log "building into $WORK/bin"
go build -o "$WORK/bin/gateway" ./cmd/gateway
for c in upstream bareproxy seed routes rate; do go build -o "$WORK/bin/$c" "./bench/cmd/$c"; done

# ---------------------------------------------------------------- servers
REDIS_PORT=$(free_port) UP_PORT=$(free_port) BARE_PORT=$(free_port)
NGINX_PORT=$(free_port) GW_PORT=$(free_port) GW2_PORT=$(free_port) OPS_PORT=$(free_port)

start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK/redis" \
	--save "" --appendonly no --protected-mode yes --loglevel warning
REDIS_PID=$LAST_PID
for i in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null || die "redis-server did not start: $(cat "$WORK/logs/redis.log")"

start upstream "$WORK/bin/upstream" -addr "127.0.0.1:$UP_PORT"
wait_http "$UP_PORT" / upstream "$LAST_PID"
start bareproxy "$WORK/bin/bareproxy" -addr "127.0.0.1:$BARE_PORT" -upstream "http://127.0.0.1:$UP_PORT"
BARE_PID=$LAST_PID
wait_http "$BARE_PORT" / bareproxy "$BARE_PID"

N=$WORK/nginx
cat >"$N/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $NGINX_WORKERS;
pid $N/nginx.pid;
error_log $N/error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $N/client_body;
    proxy_temp_path $N/proxy;
    fastcgi_temp_path $N/fastcgi;
    uwsgi_temp_path $N/uwsgi;
    scgi_temp_path $N/scgi;
    keepalive_requests 1000000;
    upstream app {
        server 127.0.0.1:$UP_PORT;
        keepalive 256;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
start nginx nginx -p "$N" -c "$N/nginx.conf" -e "$N/error.log"
NGINX_PID=$LAST_PID
wait_http "$NGINX_PORT" / nginx "$NGINX_PID"
NGINX_PROCS=$(($(pgrep -c -P "$NGINX_PID" || true)))

# The gateway: the shipped policy (GW), and the 1,000-route table (GW2).
openssl genpkey -algorithm ed25519 -out "$WORK/ed25519.pem" 2>/dev/null
POL1000=$WORK/policy1000
cp -r policies "$POL1000"
"$WORK/bin/routes" -n 1000 >"$POL1000/data.yaml"
gw_config() { # PORT POLICY_DIR
	cat <<EOF
listen: "127.0.0.1:$1"
upstreams:
  - name: bench
    url: "http://127.0.0.1:$UP_PORT"
redis:
  addr: "127.0.0.1:$REDIS_PORT"
  key_prefix: "gw:"
session:
  secure: false
policy:
  dir: "$2"
password_hashers:
  - algorithm: pbkdf2_sha256
    iterations: 1000
log:
  level: error
  format: json
decision_log:
  enabled: false
throttle:
  enabled: false
audit:
  enabled: false
authentication:
  backends: [session, bearer]
tokens:
  enabled: true
  keys:
    - {id: k1, file: "$WORK/ed25519.pem"}
  access_ttl: 1h
EOF
	# PROFILE: the first gateway serves Go's profiles on its operations listener.
	if [ "$PROFILE" -gt 0 ] && [ "$1" = "$GW_PORT" ]; then
		printf 'ops:\n  listen: "127.0.0.1:%s"\n  pprof: true\n' "$OPS_PORT"
	fi
}
gw_config "$GW_PORT" "$PWD/policies" >"$WORK/gateway.yaml"
gw_config "$GW2_PORT" "$POL1000" >"$WORK/gateway1000.yaml"
GATEWAY_SECRET_KEY=$(openssl rand -base64 48)
export GATEWAY_SECRET_KEY
start gateway "$WORK/bin/gateway" serve --config "$WORK/gateway.yaml"
GW_PID=$LAST_PID
wait_http "$GW_PORT" /public/ gateway "$GW_PID"
start gateway1000 "$WORK/bin/gateway" serve --config "$WORK/gateway1000.yaml"
GW2_PID=$LAST_PID
wait_http "$GW2_PORT" /public/ gateway1000 "$GW2_PID"
GW_RSS_IDLE=$(rss_kb "$GW_PID")

# ---------------------------------------------------------------- identities
PW="bench-$(openssl rand -hex 12)"
"$WORK/bin/seed" -config "$WORK/gateway.yaml" fixtures -password "$PW" >&2
login_cookie() { # USER PORT: the session cookie from POST /_gateway/login
	curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
		-d "{\"username\":\"$1\",\"password\":\"$PW\"}" "http://127.0.0.1:$2/_gateway/login" |
		sed -n 's/^[Ss]et-[Cc]ookie: gateway_sessionid=\([^;]*\).*/\1/p' | tr -d '\r'
}
ALICE=$(login_cookie alice "$GW_PORT")
CAROL=$(login_cookie carol "$GW2_PORT")
[ -n "$ALICE" ] && [ -n "$CAROL" ] || die "login did not set a gateway_sessionid cookie"
TOKEN=$(curl -s -H 'Content-Type: application/json' -d "{\"username\":\"alice\",\"password\":\"$PW\"}" \
	"http://127.0.0.1:$GW_PORT/_gateway/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || die "POST /_gateway/token gave no access_token"

# ---------------------------------------------------------------- scenarios
# scenario: label | path | header | gateway port | gateway's expected status
declare -A S_LABEL S_PATH S_HDR S_PORT S_CODE
def() { S_LABEL[$1]=$2 S_PATH[$1]=$3 S_HDR[$1]=$4 S_PORT[$1]=$5 S_CODE[$1]=$6; }
def public "1 anonymous, public route" /public/hello "" "$GW_PORT" 200
def session "2 session, group+perm rule" /reports/q1 "Cookie: gateway_sessionid=$ALICE" "$GW_PORT" 200
def denied "3 session, denied (403)" /admin/ "Cookie: gateway_sessionid=$ALICE" "$GW_PORT" 403
def bearer "4 bearer token (EdDSA)" /reports/q1 "Authorization: Bearer $TOKEN" "$GW_PORT" 200
def routes1000 "5 1,000 routes, route 995" /app45/m995/123/ "Cookie: gateway_sessionid=$CAROL" "$GW2_PORT" 200
def manyusers "6 ${USERS} users/${SESSIONS} sessions" /reports/q1 "" "$GW_PORT" 200
# 7 and 8: every request another session, round robin over the first 1,000
# of the seeded sessions, or over all of them (a cache-cold pattern when
# there are more sessions than requests per principal-cache lifetime).
def rotate1k "7 rotating over 1000 sessions" /reports/q1 "" "$GW_PORT" 200
def rotateall "8 rotating over ${SESSIONS} sessions" /reports/q1 "" "$GW_PORT" 200
declare -A S_ROTATE=([rotate1k]=1000 [rotateall]=$SESSIONS)
cat >"$WORK/rotate.lua" <<'LUA'
-- Each request carries the next of the first NCOOKIES session ids in
-- COOKIES (one a line); each wrk thread starts at its own offset.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local cookies = {}
local i = 0
function init(args)
  local n = tonumber(os.getenv("NCOOKIES"))
  for line in io.lines(os.getenv("COOKIES")) do
    if line ~= "" then cookies[#cookies + 1] = line end
    if n and #cookies >= n then break end
  end
  i = ((id or 1) - 1) * math.floor(#cookies / 2)
end
function request()
  i = i % #cookies + 1
  return wrk.format(nil, nil, {["Cookie"] = "gateway_sessionid=" .. cookies[i]})
end
LUA

target_port() { # TARGET SCENARIO
	case $1 in bare) echo "$BARE_PORT" ;; nginx) echo "$NGINX_PORT" ;; gateway) echo "${S_PORT[$2]}" ;; esac
}

SEED_OUT=""
seed_bulk() {
	[ -z "$SEED_OUT" ] || return 0
	log "seeding $USERS users and $SESSIONS sessions"
	SEED_OUT=$("$WORK/bin/seed" -config "$WORK/gateway.yaml" bulk -users "$USERS" -sessions "$SESSIONS" -cookies-out "$WORK/cookies.txt")
	local c
	c=$(sed -n 's/^sample_cookie=//p' <<<"$SEED_OUT")
	[ -n "$c" ] || die "seed printed no sample_cookie (SESSIONS=0?)"
	S_HDR[manyusers]="Cookie: gateway_sessionid=$c"
}

FAILED=0
declare -A PROBLEMS=()
problem() { PROBLEMS[$1]="${PROBLEMS[$1]:-}${PROBLEMS[$1]:+; }$2"; FAILED=1; }

# to_ms VALUE: wrk's "412.00us" / "1.23ms" / "2.00s" in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }

GW_RSS_S2=0 BARE_RSS_S2=0
run_one() { # SCENARIO TARGET ROUND
	local s=$1 t=$2 r=$3 port out hdr=() sampler=""
	port=$(target_port "$t" "$s")
	[ -n "${S_HDR[$s]}" ] && hdr=(-H "${S_HDR[$s]}")
	out="$WORK/raw/$s.$t.$r.txt"
	if [ "$s" = session ] && [ "$t" = gateway ]; then
		(m=0; while :; do v=$(rss_kb "$GW_PID"); [ "${v:-0}" -gt "$m" ] && m=$v && echo "$m" >"$WORK/rss.gw"; sleep 0.5; done) &
		sampler=$!
	fi
	local profiler=""
	if [ "$PROFILE" -gt 0 ] && [ "$s" = session ] && [ "$t" = gateway ] && [ "$r" = 1 ]; then
		# A CPU profile of the gateway while wrk drives the authenticated scenario.
		curl -s -o "$WORK/cpu.session.pprof" "http://127.0.0.1:$OPS_PORT/debug/pprof/profile?seconds=$PROFILE" &
		profiler=$!
	fi
	local script=()
	[ -n "${S_ROTATE[$s]:-}" ] && script=(-s "$WORK/rotate.lua")
	COOKIES="$WORK/cookies.txt" NCOOKIES="${S_ROTATE[$s]:-}" \
		wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${script[@]}" "${hdr[@]}" "http://127.0.0.1:$port${S_PATH[$s]}" >"$out" 2>&1 || true
	[ -z "$profiler" ] || wait "$profiler" || problem profile "fetching the CPU profile failed"
	if [ -n "$sampler" ]; then
		kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
		local v; v=$(cat "$WORK/rss.gw" 2>/dev/null || echo 0)
		[ "$v" -gt "$GW_RSS_S2" ] && GW_RSS_S2=$v
	fi
	[ "$s" = session ] && [ "$t" = bare ] && { local b; b=$(rss_kb "$BARE_PID"); [ "$b" -gt "$BARE_RSS_S2" ] && BARE_RSS_S2=$b; }

	local rps p50 p99 total non2xx sockerr
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	p50=$(awk '$1 == "50%" {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	total=$(awk '/requests in/ {print $1}' "$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
	sockerr=$(sed -n 's/^ *Socket errors: *//p' "$out")
	non2xx=${non2xx:-0}
	if [ -z "$rps" ] || [ -z "$total" ]; then
		problem "$s.$t" "round $r: wrk failed: $(head -c 300 "$out" | tr '\n' ' ')"
		rps=0 p50=0 p99=0 total=0
	fi
	local want=0
	[ "$t" = gateway ] && [ "${S_CODE[$s]}" != 200 ] && want=$total
	[ "$non2xx" = "$want" ] || problem "$s.$t" "round $r: $non2xx non-2xx/3xx of $total responses, expected $want"
	[ -z "$sockerr" ] || problem "$s.$t" "round $r: socket errors: $sockerr"
	echo "$s $t $r $rps $(to_ms "$p50") $(to_ms "$p99") $total $non2xx" >>"$WORK/results.txt"
	log "$(printf '%-10s %-7s round %d: %10s req/s  p50 %9s  p99 %9s  non-2xx %s' "$s" "$t" "$r" "$rps" "$p50" "$p99" "$non2xx")"
}

preflight() { # SCENARIO: each target answers the expected status once
	local s=$1 t port code want hdr=()
	[ -n "${S_HDR[$s]}" ] && hdr=(-H "${S_HDR[$s]}")
	[ -n "${S_ROTATE[$s]:-}" ] && hdr=(-H "Cookie: gateway_sessionid=$(head -1 "$WORK/cookies.txt")")
	for t in "${TARGETS[@]}"; do
		port=$(target_port "$t" "$s")
		want=200
		[ "$t" = gateway ] && want=${S_CODE[$s]}
		code=$(curl -s -o "$WORK/raw/$s.$t.preflight.body" -w '%{http_code}' "${hdr[@]}" "http://127.0.0.1:$port${S_PATH[$s]}")
		[ "$code" = "$want" ] || problem "$s.$t" "preflight: status $code, expected $want ($(head -c 200 "$WORK/raw/$s.$t.preflight.body" | tr '\n' ' '))"
	done
}

: >"$WORK/results.txt"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load $(cut -d' ' -f1-3 /proc/loadavg)"
log "wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS round(s), nginx worker_processes $NGINX_WORKERS ($NGINX_PROCS workers)"
for s in $SCENARIOS; do
	[ -n "${S_LABEL[$s]:-}" ] || die "unknown scenario $s (public session denied bearer routes1000 manyusers rotate1k rotateall)"
	case $s in manyusers | rotate1k | rotateall) seed_bulk ;; esac
	preflight "$s"
	for r in $(seq "$ROUNDS"); do
		for t in "${TARGETS[@]}"; do run_one "$s" "$t" "$r"; done
	done
done
# ---------------------------------------------------------------- open loop
# The same requests at a fixed rate below saturation (bench/cmd/rate),
# latency from each request's scheduled time; targets interleaved per round.
rate_kv() { # LINE NAME: NAME's value in the rate tool's name=value line
	awk -v k="$2" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2)}' <<<"$1"
}
rate_one() { # SCENARIO TARGET ROUND
	local s=$1 t=$2 r=$3 port out line rc=0 want=200 hdr=()
	port=$(target_port "$t" "$s")
	[ -n "${S_HDR[$s]}" ] && hdr=(-H "${S_HDR[$s]}")
	[ "$t" = gateway ] && want=${S_CODE[$s]}
	out="$WORK/raw/rate.$s.$t.$r"
	"$WORK/bin/rate" -url "http://127.0.0.1:$port${S_PATH[$s]}" -rate "$RATE" -conns "$CONNS" \
		-duration "$RATE_DURATION" -warmup "$RATE_WARMUP" -expect "$want" "${hdr[@]}" >"$out.txt" 2>"$out.err" || rc=$?
	line=$(grep '^rate=' "$out.txt" | tail -1 || true)
	if [ -z "$line" ]; then
		problem "rate.$s.$t" "round $r: rate exited $rc: $(head -c 300 "$out.err" | tr '\n' ' ')"
		return
	fi
	local v sched sent ok bad errs unsent ach
	sched=$(rate_kv "$line" scheduled) sent=$(rate_kv "$line" sent) ok=$(rate_kv "$line" ok)
	bad=$(rate_kv "$line" bad_status) errs=$(rate_kv "$line" errors) unsent=$(rate_kv "$line" unsent)
	ach=$(rate_kv "$line" achieved_rps)
	[ "$rc" = 0 ] && [ "$ok" = "$sched" ] ||
		problem "rate.$s.$t" "round $r: $ok of $sched requests ok ($bad other status, $errs errors, $unsent not sent)$(sed -n 's/.*; first failure: /: /p' "$out.err")"
	awk -v a="$ach" -v r="$RATE" 'BEGIN {exit !(a >= 0.95 * r)}' ||
		problem "rate.$s.$t" "round $r: sent at $ach req/s, below 95% of RATE=$RATE (saturated?)"
	v=$(for k in p50_us p90_us p99_us p999_us max_us; do rate_kv "$line" $k; done | awk '{printf " %.3f", $1 / 1000}')
	echo "$s $t $r $ach$v $sent $ok" >>"$WORK/rate.txt"
	log "$(printf '%-10s %-7s round %d: %8s req/s sent, ms p50/p90/p99/p99.9/max%s' "$s" "$t" "$r" "$ach" "$v")"
}

: >"$WORK/rate.txt"
if [ "$RATE" != 0 ] && [ -n "$RATE_SCENARIOS" ]; then
	log "open loop: $RATE req/s over $CONNS connections, $RATE_DURATION after $RATE_WARMUP warmup, $RATE_ROUNDS round(s), targets $RATE_TARGETS"
	for s in $RATE_SCENARIOS; do
		[ -n "${S_LABEL[$s]:-}" ] || die "unknown scenario $s in RATE_SCENARIOS"
		[ "$s" != manyusers ] || [ -n "${S_HDR[$s]}" ] || die "RATE_SCENARIOS: manyusers needs manyusers in SCENARIOS (seeding)"
		for r in $(seq "$RATE_ROUNDS"); do
			for t in $RATE_TARGETS; do
				case $t in bare | nginx | gateway) ;; *) die "unknown target $t in RATE_TARGETS (bare nginx gateway)" ;; esac
				rate_one "$s" "$t" "$r"
			done
		done
	done
fi

GW_RSS_END=$(rss_kb "$GW_PID")
for p in "$GW_PID" "$GW2_PID" "$BARE_PID" "$NGINX_PID" "$REDIS_PID"; do
	kill -0 "$p" 2>/dev/null || problem server "process $p exited during the run"
done

# ---------------------------------------------------------------- report
echo
echo "Gateway benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty')"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load generator and all servers share them"
echo "load average: $LOAD_START before the first wrk run, $(cut -d' ' -f1-3 /proc/loadavg) after the last"
echo "load: wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS round(s), targets interleaved (bare, nginx, gateway) each round"
echo "nginx: worker_processes $NGINX_WORKERS ($NGINX_PROCS workers), upstream keepalive 256; Go: GOMAXPROCS=${GOMAXPROCS:-$(nproc)}; $(go version | cut -d' ' -f3), $(nginx -v 2>&1 | cut -d' ' -f3), redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
echo "req/s, p50 and p99: median over rounds; vs bare: median over rounds of req/s divided by the bare proxy's req/s in the same round"
echo
printf '%-32s %-8s %10s %9s %9s %8s  %-s\n' scenario target "req/s" "p50 ms" "p99 ms" "vs bare" "per-round req/s"
for s in $SCENARIOS; do
	for t in "${TARGETS[@]}"; do
		rows=$(awk -v s="$s" -v t="$t" '$1 == s && $2 == t' "$WORK/results.txt")
		rps=$(awk '{print $4}' <<<"$rows" | median)
		p50=$(awk '{print $5}' <<<"$rows" | median)
		p99=$(awk '{print $6}' <<<"$rows" | median)
		ratio=$(awk -v s="$s" -v t="$t" '$1 == s && $2 == "bare" {b[$3] = $4} $1 == s && $2 == t {x[$3] = $4}
			END {for (r in x) if (b[r] > 0) print x[r] / b[r]}' "$WORK/results.txt" | median)
		rounds=$(awk '{printf "%s%.0f", (NR > 1 ? "/" : ""), $4}' <<<"$rows")
		printf '%-32s %-8s %10.0f %9.3f %9.3f %8.2f  %s\n' "$([ "$t" = bare ] && echo "${S_LABEL[$s]}")" "$t" "$rps" "$p50" "$p99" "$ratio" "$rounds"
	done
done
echo
if [ -s "$WORK/rate.txt" ]; then
	echo "open loop (bench/cmd/rate): $RATE req/s in total over $CONNS keep-alive connections, ${RATE_DURATION} recorded after ${RATE_WARMUP} warmup, $RATE_ROUNDS round(s), targets interleaved ($RATE_TARGETS) each round"
	echo "latency from each request's scheduled send time (so stalls count for every request due during them); median over rounds;"
	echo "added: the target's latency minus the bare proxy's in the same round, median over rounds"
	echo
	printf '%-32s %-8s %7s %8s %8s %8s %8s %8s %9s %9s  %s\n' scenario target "req/s" "p50 ms" "p90 ms" "p99 ms" "p99.9 ms" "max ms" "added p50" "added p99" "per-round p99"
	for s in $RATE_SCENARIOS; do
		first=1
		for t in $RATE_TARGETS; do
			rows=$(awk -v s="$s" -v t="$t" '$1 == s && $2 == t' "$WORK/rate.txt")
			[ -n "$rows" ] || continue
			col() { awk -v c="$1" '{print $c}' <<<"$rows" | median; }
			added() { # COLUMN: median over rounds of target minus bare, same round
				[ "$t" = bare ] && { echo "-"; return; }
				awk -v s="$s" -v t="$t" -v c="$1" '$1 == s && $2 == "bare" {b[$3] = $c} $1 == s && $2 == t {x[$3] = $c}
					END {for (r in x) if (r in b) print x[r] - b[r]}' "$WORK/rate.txt" | median | awk '{ if ($1 == "nan") print "nan"; else printf "%+.3f", $1 }'
			}
			printf '%-32s %-8s %7.0f %8.3f %8.3f %8.3f %8.3f %8.3f %9s %9s  %s\n' "$([ "$first" = 1 ] && echo "${S_LABEL[$s]}")" "$t" \
				"$(col 4)" "$(col 5)" "$(col 6)" "$(col 7)" "$(col 8)" "$(col 9)" "$(added 5)" "$(added 7)" \
				"$(awk '{printf "%s%.3f", (NR > 1 ? "/" : ""), $7}' <<<"$rows")"
			first=0
		done
	done
	echo
fi
echo "checks: every response 2xx (bare, nginx; the gateway except scenario 3, where every response must be 403); no socket errors"
[ -s "$WORK/rate.txt" ] && echo "  open loop: every request of the window sent and answered with the expected status, sent at >= 95% of RATE"
if [ "$FAILED" = 0 ]; then
	echo "  all passed"
else
	for k in $(printf '%s\n' "${!PROBLEMS[@]}" | sort); do echo "  FAIL $k: ${PROBLEMS[$k]}"; done
fi
echo
echo "memory:"
s2="not measured (scenario 2 not run)"
[ "$GW_RSS_S2" -gt 0 ] && s2="$((GW_RSS_S2 / 1024)) MiB peak during scenario 2 (bare proxy: $((BARE_RSS_S2 / 1024)) MiB)"
echo "  gateway RSS (ps -o rss): $((GW_RSS_IDLE / 1024)) MiB idle after start, $s2, $((GW_RSS_END / 1024)) MiB at the end"
if [ -n "$SEED_OUT" ]; then
	kv() { sed -n "s/^$1=//p" <<<"$SEED_OUT"; }
	echo "  redis, seeding $(kv users) users (groups editors, reporters) in $(kv seed_users_seconds)s and $(kv sessions) sessions in $(kv seed_sessions_seconds)s:"
	echo "    used_memory: $(kv used_memory_before) before, $(kv used_memory_after_users) after users, $(kv used_memory_after_sessions) after sessions"
	echo "    per user: $(kv used_memory_per_user) B (INFO memory delta / users: user hash, groups set, usernames entry, group member sets)"
	echo "    per session: $(kv used_memory_per_session) B (delta / sessions: session hash and its entry in the user hash's session index)"
	sed -n 's/^memory_usage\[\(.*\)\]=\(.*\)/    MEMORY USAGE {auth}:\1: \2/p' <<<"$SEED_OUT" | sed 's/: \([0-9]*\)$/: \1 B/'
fi
if [ "$PROFILE" -gt 0 ] && [ -s "$WORK/cpu.session.pprof" ]; then
	echo
	echo "CPU profile of the gateway, scenario 2 round 1 (${PROFILE}s; KEEP=1 keeps $WORK/cpu.session.pprof):"
	go tool pprof -top -nodecount=25 "$WORK/bin/gateway" "$WORK/cpu.session.pprof" 2>/dev/null | sed 's/^/  /'
	echo "  cumulative, the gateway's own code and its libraries:"
	go tool pprof -top -cum -nodecount=400 "$WORK/bin/gateway" "$WORK/cpu.session.pprof" 2>/dev/null |
		grep -E 'djangate|gin-gonic|open-policy-agent|go-redis' | head -20 | sed 's/^/  /'
fi
echo
echo "elapsed: $(($(date +%s) - T0))s"
exit "$FAILED"
