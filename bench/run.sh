#!/usr/bin/env bash
# run.sh: Keycard vs FreeRADIUS, same certificates, same load, one run.
#
#   bench/run.sh ./keycard [--concurrency N] [--count N] [--warmup N]
#                [--threads N] [--curve NAME]... [--keep]
#
# Sets up a throwaway Keycard (CA, a loopback NAS, one stay, one enrolled
# device) in a temporary folder, exports Keycard's RADIUS server certificate
# and key for FreeRADIUS (bench/freeradius.sh), starts both servers on free
# loopback ports, and runs `keycard bench` against each in three modes:
# full TLS 1.3, full TLS 1.2, resumed TLS 1.3. Server CPU time is read from
# /proc/PID/stat (utime+stime) before and after each measured run. Prints a
# markdown table, then the Keycard/FreeRADIUS ratios.
#
#   --concurrency  simulated devices in parallel (default 8)
#   --count        measured authentications per server and mode (default 1000)
#   --warmup       unmeasured authentications before each run (default 50)
#   --threads      FreeRADIUS worker threads (default: number of cores)
#   --curve        key exchange to offer, repeatable (X25519, P-256,
#                  X25519MLKEM768); Go's defaults when not given. With TLS
#                  1.2, include P-256: the certificates are ECDSA P-256 and
#                  OpenSSL (FreeRADIUS) refuses a client whose groups lack it.
#   --keep         keep the temporary folder (logs, configs) and print it
#
# Needs: the keycard binary, freeradius (Debian package), jq, awk.
set -euo pipefail

die() { echo "run.sh: $*" >&2; exit 2; }

[[ $# -ge 1 && $1 != -* ]] || die "usage: bench/run.sh KEYCARD-BINARY [options] (see the top of this file)"
keycard=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
concurrency=8 count=1000 warmup=50 threads=$(nproc) keep=0
curves=()
while (($#)); do
	case "$1" in
	--concurrency) concurrency=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--curve) curves+=(--curve "$2"); shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,27p' "$0"; exit 0 ;;
	*) die "unknown argument $1" ;;
	esac
done
for n in "$concurrency" "$count" "$warmup" "$threads"; do
	[[ $n =~ ^[0-9]+$ ]] || die "$n is not a number"
done
((count >= 1 && count <= 100000)) || die "--count: 1..100000"
((concurrency >= 1 && concurrency <= 256)) || die "--concurrency: 1..256"
[[ -x $keycard ]] || die "$keycard is not an executable (make build)"
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
freeradius=${FREERADIUS:-$(command -v freeradius || echo /usr/sbin/freeradius)}
[[ -x $freeradius ]] || die "freeradius is missing (apt-get install freeradius)"
"$keycard" bench --help 2>&1 | grep -q -- --allow-late-message-authenticator ||
	die "this keycard has no 'bench --allow-late-message-authenticator' (needed for FreeRADIUS 3.2.1, which puts Message-Authenticator last)"
here=$(cd "$(dirname "$0")" && pwd)
clk=$(getconf CLK_TCK)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keycard-bench.XXXXXX")
pids=()
cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		# Give each server 5 s to exit, then stop it hard.
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if ((keep)) || ((rc != 0)); then
		echo "run.sh: logs and configs kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# freeport prints a UDP port on 127.0.0.1 that is free now.
freeport() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 30000))
		if ! ss -Hlun "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return
		fi
	done
	die "no free UDP port found"
}

secret=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 24)
server_name=radius.bench.keycard.test
kport=$(freeport) && fport=$(freeport) || exit
while [[ $fport == "$kport" ]]; do fport=$(freeport) || exit; done
fport2=$(freeport) || exit
while [[ $fport2 == "$kport" || $fport2 == "$fport" ]]; do fport2=$(freeport) || exit; done
pqport=$(freeport) || exit
while [[ $pqport == "$kport" || $pqport == "$fport" || $pqport == "$fport2" ]]; do pqport=$(freeport) || exit; done

# --- Keycard: config, CA, NAS, a stay and its device ---
export KEYCARD_CA_PASSPHRASE
KEYCARD_CA_PASSPHRASE=$(head -c 24 /dev/urandom | base64)
cfg=$tmp/keycard.yaml
cat >"$cfg" <<YAML
# Written by bench/run.sh.
data_dir: $tmp/data
ca:
  organization: Keycard Bench Hotel
  passphrase_env: KEYCARD_CA_PASSPHRASE
  radius_server_name: $server_name
radius:
  auth_listen: ["127.0.0.1:$kport"]
metrics:
  listen: ""
log:
  level: warn
  format: text
YAML
# A second Keycard on the same data folder that prefers the hybrid
# post-quantum key exchange (Go's client offers it first): its ClientHello
# key share spans two EAP fragments and the server pays for ML-KEM.
pqcfg=$tmp/keycard-pq.yaml
sed -e "s/127.0.0.1:$kport/127.0.0.1:$pqport/" -e 's/^radius:$/radius:\n  curves: [X25519MLKEM768, X25519, P-256]/' "$cfg" >"$pqcfg"
kc() { "$keycard" --config "$cfg" "$@"; }
echo "run.sh: setting up Keycard in $tmp" >&2
kc ca init >"$tmp/ca-init.out"
kc nas add --name bench --address 127.0.0.1/32 --secret "$secret" >"$tmp/nas-add.out"
stay=$(kc stay create --room 101 --guest Bench --check-out 2h --json | jq -er '.id')
kc device enrol --stay "$stay" --out "$tmp/device" --json >"$tmp/device-enrol.json"
kc ca export-server --out "$tmp/server" --json >"$tmp/export-server.json"

# --- start both servers ---
# Started directly (not through kc) so that $! is keycard's own PID.
"$keycard" --config "$cfg" serve >"$tmp/keycard.log" 2>&1 &
kpid=$!
pids+=("$kpid")
"$keycard" --config "$pqcfg" serve >"$tmp/keycard-pq.log" 2>&1 &
pqpid=$!
pids+=("$pqpid")

# Two FreeRADIUS instances, each in its best set-up for the rows it runs:
# full handshakes without the TLS session cache (with it, FreeRADIUS writes
# session files to disk on every authentication), resumption with it.
"$here/freeradius.sh" --dir "$tmp/freeradius" --port "$fport" --secret "$secret" \
	--cert "$tmp/server/server.crt" --key "$tmp/server/server.key" --ca "$tmp/server/ca.pem" \
	--threads "$threads" >"$tmp/freeradius.out" 2>&1 &
fpid=$!
pids+=("$fpid")
"$here/freeradius.sh" --dir "$tmp/freeradius-nocache" --port "$fport2" --secret "$secret" \
	--cert "$tmp/server/server.crt" --key "$tmp/server/server.key" --ca "$tmp/server/ca.pem" \
	--threads "$threads" --no-cache >"$tmp/freeradius-nocache.out" 2>&1 &
f2pid=$!
pids+=("$f2pid")

# bench SERVER-PORT EXTRA-ARGS... runs keycard bench and prints its JSON.
bench() {
	local port=$1
	shift
	timeout 600 "$keycard" bench --server "127.0.0.1:$port" --secret "$secret" \
		--cert "$tmp/device/device.crt" --key "$tmp/device/device.key" --ca "$tmp/device/ca.pem" \
		--server-name "$server_name" --concurrency "$concurrency" --duration 5m --json \
		${curves[@]+"${curves[@]}"} "$@"
}

# wait_ready NAME PID PORT EXTRA: one authentication must succeed within 20 s.
wait_ready() {
	local name=$1 pid=$2 port=$3
	shift 3
	for _ in $(seq 40); do
		kill -0 "$pid" 2>/dev/null || die "$name exited at start; see $tmp"
		if bench "$port" --count 1 --concurrency 1 --timeout 500ms "$@" 2>/dev/null | jq -e '.auths == 1' >/dev/null; then
			return
		fi
		sleep 0.5
	done
	die "$name does not authenticate after 20 s; see $tmp"
}
wait_ready keycard "$kpid" "$kport"
wait_ready keycard-pq "$pqpid" "$pqport"
wait_ready freeradius "$fpid" "$fport" --allow-late-message-authenticator
wait_ready freeradius-nocache "$f2pid" "$fport2" --allow-late-message-authenticator

# cputicks PID: utime+stime of the process (all threads), in clock ticks.
cputicks() {
	# Field 2 (comm) may hold spaces; count fields after its closing ')'.
	awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

results=$tmp/results.tsv
: >"$results"
# measure SERVER PID PORT MODE EXTRA-ARGS...
measure() {
	local server=$1 pid=$2 port=$3 mode=$4
	shift 4
	kill -0 "$pid" 2>/dev/null || die "$server is no longer running; see $tmp"
	if ((warmup > 0)); then
		bench "$port" --count "$warmup" "$@" >/dev/null 2>&1 || true
	fi
	local t0 t1 json
	t0=$(cputicks "$pid")
	# keycard bench exits non-zero when nothing succeeded; the JSON says why.
	json=$(bench "$port" --count "$count" "$@" 2>"$tmp/$server-$mode.err") || true
	t1=$(cputicks "$pid")
	echo "$json" >"$tmp/$server-$mode.json"
	if ! jq -e '.auths' >/dev/null 2>&1 <<<"$json"; then
		echo "run.sh: $server $mode: keycard bench gave no report: $(tail -1 "$tmp/$server-$mode.err")" >&2
		json='{"auths":0,"failures":0,"auths_per_sec":0,"p99_ms":0,"resumed":0,"rounds_per_auth":0}'
	fi
	local failures auths
	failures=$(jq -r '.failures' <<<"$json")
	auths=$(jq -r '.auths' <<<"$json")
	if ((failures != 0)); then
		echo "run.sh: $server $mode: $failures failures: $(jq -c '.failure_causes' <<<"$json") $(jq -r '.first_error // ""' <<<"$json")" >&2
	fi
	jq -r --arg s "$server" --arg m "$mode" --argjson cpu "$(((t1 - t0) * 1000 / clk))" \
		'[$s, $m, .auths, .failures, .auths_per_sec, .p99_ms, (if .auths > 0 then $cpu / .auths else 0 end), .resumed, .rounds_per_auth] | @tsv' \
		<<<"$json" >>"$results"
	echo "run.sh: $server $mode: $auths auths" >&2
}

modes=("full TLS 1.3|--tls 1.3" "full TLS 1.2|--tls 1.2" "resumed TLS 1.3|--tls 1.3 --resume")
for m in "${modes[@]}"; do
	mode=${m%%|*}
	read -r -a args <<<"${m#*|}"
	measure keycard "$kpid" "$kport" "$mode" "${args[@]}"
	if [[ $mode == resumed* ]]; then
		measure freeradius "$fpid" "$fport" "$mode" "${args[@]}" --allow-late-message-authenticator
	else
		measure freeradius "$f2pid" "$fport2" "$mode" "${args[@]}" --allow-late-message-authenticator
	fi
done
# Keycard only: FreeRADIUS 3.2.1 (OpenSSL 3.0) has no ML-KEM.
measure keycard "$pqpid" "$pqport" "full TLS 1.3, X25519MLKEM768" --tls 1.3

# --- the table ---
echo
echo "Keycard ($(basename "$keycard")) vs $("$freeradius" -v 2>/dev/null | head -1 | sed 's/^radiusd: //; s/,.*//' || true),"
echo "$(nproc) cores, $concurrency concurrent devices, $count authentications per row, ECDSA P-256 certificates from Keycard's CA."
echo
echo "| server | mode | auths/s | p99 ms | CPU ms/auth | resumed | rounds/auth | failures |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
awk -F'\t' '{ printf "| %s | %s | %.0f | %.1f | %.2f | %d/%d | %.1f | %d |\n", $1, $2, $5, $6, $7, $8, $3, $9, $4 }' "$results"
echo
echo "| mode | auths/s Keycard÷FreeRADIUS | p99 Keycard÷FreeRADIUS | CPU/auth Keycard÷FreeRADIUS |"
echo "| --- | ---: | ---: | ---: |"
awk -F'\t' '
	$1 == "keycard"    { k[$2] = $0; order[++n] = $2 }
	$1 == "freeradius" { f[$2] = $0 }
	function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
	END {
		for (i = 1; i <= n; i++) {
			m = order[i]
			split(k[m], K, "\t"); split(f[m], F, "\t")
			printf "| %s | %s | %s | %s |\n", m, ratio(K[5], F[5]), ratio(K[6], F[6]), ratio(K[7], F[7])
		}
	}' "$results"
echo
echo "CPU ms/auth is server utime+stime over the measured run (clock ticks of $((1000 / clk)) ms) divided by successful authentications;"
echo "auths/s and p99 also depend on the load generator, which shares the machine's cores with the server under test."
echo "FreeRADIUS 3.2.1 resumes no TLS 1.2 session from Go clients (tickets off) and about every other TLS 1.3 one; see the resumed column."
echo "FreeRADIUS runs full handshakes with its TLS session cache off and the resumed row with it on (persist_dir), each its better set-up."
