#!/usr/bin/env bash
# PBKDF2-SHA256 at Django's default iterations (config.DefaultPBKDF2Iterations):
# the gateway's Go hasher (BenchmarkHashers/pbkdf2_sha256, one correct-password
# check) against Python's hashlib.pbkdf2_hmac, which Django uses, in one run.
# Prints the median of REPS runs of each and the ratio.
#
#   bench/hashers.sh                    # REPS=5, PYTHON=/usr/bin/python3
#   REPS=9 PYTHON=python3 bench/hashers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
PYTHON=${PYTHON:-/usr/bin/python3}   # Debian's; a pyenv python3 may come first on PATH
ITER=$(sed -n 's/^[[:space:]]*DefaultPBKDF2Iterations[[:space:]]*=[[:space:]]*\([0-9_]*\).*/\1/p' internal/config/passwords.go | tr -d _)
[ -n "$ITER" ] || { echo "hashers.sh: cannot read DefaultPBKDF2Iterations" >&2; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "PBKDF2-HMAC-SHA256, $ITER iterations, 32-byte key, median of $REPS"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# Go: REPS benchmark runs of 3 checks each; ns/op is field 3.
go_out=$(go test -run '^$' -bench '^BenchmarkHashers$/^pbkdf2_sha256$' -benchtime 3x -count "$REPS" ./internal/authn)
go_ms=$(awk '/^BenchmarkHashers\/pbkdf2_sha256/ {print $3/1e6}' <<<"$go_out" | median)
go_mem=$(awk '/^BenchmarkHashers\/pbkdf2_sha256/ {print $5" B/op, "$7" allocs/op"; exit}' <<<"$go_out")

# Python: REPS timed derivations with the same password and a 22-character salt.
py_out=$("$PYTHON" - "$ITER" "$REPS" <<'EOF'
import hashlib, ssl, sys, time
iterations, reps = int(sys.argv[1]), int(sys.argv[2])
hashlib.pbkdf2_hmac("sha256", b"warm up", b"salt", 1000)
for _ in range(reps):
    start = time.perf_counter()
    hashlib.pbkdf2_hmac("sha256", b"correct horse battery staple", b"abcdefghijklmnopqrstuv", iterations)
    print((time.perf_counter() - start) * 1000)
print("#", sys.version.split()[0], ssl.OPENSSL_VERSION)
EOF
)
py_ms=$(grep -v '^#' <<<"$py_out" | median)
py_ver=$(grep '^#' <<<"$py_out" | cut -c3-)

printf '%-44s %9.1f ms  (%s)\n' "Go x/crypto/pbkdf2 (gateway check)" "$go_ms" "$go_mem"
printf '%-44s %9.1f ms  (%s)\n' "Python hashlib.pbkdf2_hmac" "$py_ms" "$py_ver"
awk -v g="$go_ms" -v p="$py_ms" 'BEGIN {printf "ratio Python/Go: %.2f (Go %.3f µs/iteration, Python %.3f)\n", p/g, g*1000/'"$ITER"', p*1000/'"$ITER"'}'
