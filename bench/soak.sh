#!/usr/bin/env bash
# Soak: the gateway at steady load for SOAK (default 10m). Every INTERVAL
# (default 60s) it prints the gateway's RSS, Go heap in use, goroutines,
# requests so far and non-2xx answers, read from its /metrics; at the end
# the first and last samples are compared. Not a CI test: run it by hand.
#
#   bench/soak.sh                       # 10 minutes
#   SOAK=1m INTERVAL=10s bench/soak.sh  # a quick look
#
# Needs Go, wrk, redis-server, curl, openssl (Debian: apt-get install -y wrk
# redis-server curl openssl). Everything runs on loopback in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK=${SOAK:-10m}
INTERVAL=${INTERVAL:-60s}
CONNS=${CONNS:-16}
for c in go wrk redis-server curl openssl; do command -v "$c" >/dev/null || { echo "soak.sh: $c is missing" >&2; exit 1; }; done

WORK=$(mktemp -d /tmp/gwsoak.XXXXXX)
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start() { local name=$1; shift; "$@" >"$WORK/$name.log" 2>&1 & PIDS+=($!); LAST_PID=$!; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secs() { local v=$1; case $v in *m) echo $(( ${v%m} * 60 ));; *s) echo "${v%s}";; *) echo "$v";; esac; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "soak.sh: $1 never answered" >&2; exit 1; }

go build -o "$WORK/gateway" ./cmd/gateway
go build -o "$WORK/upstream" ./bench/cmd/upstream
REDIS_PORT=$(port); UP_PORT=$(port); GW_PORT=$(port); OPS_PORT=$(port)
start redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK"
start upstream "$WORK/upstream" -addr "127.0.0.1:$UP_PORT"
cat >"$WORK/gateway.yaml" <<YAML
listen: "127.0.0.1:$GW_PORT"
upstreams: [{name: app, url: "http://127.0.0.1:$UP_PORT"}]
redis: {addr: "127.0.0.1:$REDIS_PORT"}
session: {secure: false}
password_hashers: [{algorithm: pbkdf2_sha256, iterations: 1000}]
log: {level: warn, access: false}
throttle: {enabled: false}
audit: {enabled: false}
ops: {listen: "127.0.0.1:$OPS_PORT"}
YAML
export GATEWAY_SECRET_KEY; GATEWAY_SECRET_KEY=$(openssl rand -base64 48)
PW="soak-$(openssl rand -hex 12)"
"$WORK/gateway" group create editors --config "$WORK/gateway.yaml" >/dev/null
echo "$PW" | "$WORK/gateway" user create alice --password-stdin --config "$WORK/gateway.yaml" >/dev/null
"$WORK/gateway" group add-user editors alice --config "$WORK/gateway.yaml" >/dev/null
start gateway "$WORK/gateway" serve --config "$WORK/gateway.yaml"
GW_PID=$LAST_PID
wait_http "http://127.0.0.1:$GW_PORT/public/"
COOKIE=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "{\"username\":\"alice\",\"password\":\"$PW\"}" \
	"http://127.0.0.1:$GW_PORT/_gateway/login" | sed -n 's/^[Ss]et-[Cc]ookie: gateway_sessionid=\([^;]*\).*/\1/p' | tr -d '\r')
[ -n "$COOKIE" ] || { echo "soak.sh: login failed" >&2; cat "$WORK/gateway.log" >&2; exit 1; }

# One scrape per sample, so the counts agree with each other.
scrape() { curl -s "http://127.0.0.1:$OPS_PORT/metrics"; }
from() { awk -v m="$1" '$1 == m {print $2; exit}'; }
requests() { awk -v p="$1" 'index($1, p) == 1 {s += $2} END {printf "%d", s}'; }
sample() {
	local t=$1 m rss heap gr total ok
	m=$(scrape)
	rss=$(ps -o rss= -p "$GW_PID" | tr -d ' ')
	heap=$(from go_memstats_heap_inuse_bytes <<<"$m")
	gr=$(from go_goroutines <<<"$m")
	total=$(requests 'gateway_requests_total{' <<<"$m")
	ok=$(requests 'gateway_requests_total{code="2xx"' <<<"$m")
	printf '%6ss  rss %6d KiB  heap %7.1f MiB  goroutines %5d  requests %9d  non-2xx %d\n' "$t" "$rss" "$(awk -v h="$heap" 'BEGIN{print h/1048576}')" "${gr%.*}" "$total" "$((total - ok))"
}

echo "# soak: $SOAK at $CONNS connections, alice's session on a group route; sample every $INTERVAL"
start wrk wrk -t2 -c"$CONNS" -d"$SOAK" --latency -H "Cookie: gateway_sessionid=$COOKIE" "http://127.0.0.1:$GW_PORT/editors/doc"
WRK_PID=$LAST_PID
T=0; STEP=$(secs "$INTERVAL"); END=$(secs "$SOAK")
sample 0 | tee "$WORK/samples"
while [ "$T" -lt "$END" ] && kill -0 "$WRK_PID" 2>/dev/null; do
	sleep "$STEP"; T=$((T + STEP))
	kill -0 "$GW_PID" 2>/dev/null || { echo "soak.sh: the gateway died" >&2; cat "$WORK/gateway.log" >&2; exit 1; }
	sample "$T" | tee -a "$WORK/samples"
done
wait "$WRK_PID" || true
echo "# wrk:"; sed 's/^/  /' "$WORK/wrk.log"
M=$(scrape)
BAD=$(( $(requests 'gateway_requests_total{' <<<"$M") - $(requests 'gateway_requests_total{code="2xx"' <<<"$M") ))
echo "# non-2xx answers over the soak: $BAD (wrk's last in-flight requests, cut when it stops, are logged 499 and counted here)"
grep -q "Non-2xx\|Socket errors" "$WORK/wrk.log" && echo "# wrk reported errors (above)"
echo "# first vs last sample (after the first interval's warm-up):"
sed -n '2p;$p' "$WORK/samples"
# Fail on errors other than the requests wrk cuts at its end (at most one per connection).
[ "$BAD" -le "$CONNS" ] || exit 1
