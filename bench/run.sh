#!/usr/bin/env bash
# run.sh: Keycard vs FreeRADIUS, same certificates, same load, one run.
#
#   bench/run.sh ./keycard [--concurrency N] [--count N] [--warmup N]
#                [--rounds N] [--acct-count N] [--acct-sockets N]
#                [--threads N] [--curve NAME]... [--keep]
#
# Sets up a throwaway Keycard (CA, a loopback NAS, one stay, one enrolled
# device) in a temporary folder, exports Keycard's RADIUS server certificate
# and key for FreeRADIUS (bench/freeradius.sh), starts both servers on free
# loopback ports, and runs `keycard bench` against each in three modes:
# full TLS 1.3, full TLS 1.2, resumed TLS 1.3; then `keycard bench
# accounting` (sessions of Start, Interim-Update, Stop) against Keycard's
# accounting port (durable: group commit with fsync before each answer) and
# FreeRADIUS's default accounting (the detail file, not fsynced).
#
# Each mode is a warm-up round (not measured), then --rounds rounds that
# alternate between the servers (K F K F K F), so that drift on a shared
# machine falls on both. Server CPU time is read from /proc/PID/stat
# (utime+stime) before and after each measured round. Prints markdown
# tables with the median of the rounds and their spread (min-max), then the
# Keycard/FreeRADIUS ratios of the medians. For accounting, "lost" counts
# acknowledged records the server does not have afterwards: for Keycard
# checked with `keycard session list --all --json` (the session exists, its
# counters are at least the record's, an acknowledged Stop closed it), for
# FreeRADIUS by finding each record's Acct-Session-Id and Acct-Status-Type
# in its detail file.
#
#   --concurrency  simulated devices in parallel (default 8)
#   --count        measured authentications per server, mode and round (default 1000)
#   --warmup       authentications per server in each mode's warm-up round (default 200)
#   --rounds       measured rounds per server and mode (default 3)
#   --acct-count   accounting sessions per server and round, 3 records each (default 10000)
#   --acct-sockets simulated access points on the accounting port (default 64)
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
concurrency=8 count=1000 warmup=200 rounds=3 acct_count=10000 acct_sockets=64 threads=$(nproc) keep=0
curves=()
while (($#)); do
	case "$1" in
	--concurrency) concurrency=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--acct-count) acct_count=$2; shift 2 ;;
	--acct-sockets) acct_sockets=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--curve) curves+=(--curve "$2"); shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,46p' "$0"; exit 0 ;;
	*) die "unknown argument $1" ;;
	esac
done
for n in "$concurrency" "$count" "$warmup" "$rounds" "$acct_count" "$acct_sockets" "$threads"; do
	[[ $n =~ ^[0-9]+$ ]] || die "$n is not a number"
done
((count >= 1 && count <= 100000)) || die "--count: 1..100000"
((concurrency >= 1 && concurrency <= 256)) || die "--concurrency: 1..256"
((rounds >= 1 && rounds <= 20)) || die "--rounds: 1..20"
((acct_count >= 1 && acct_count <= 200000)) || die "--acct-count: 1..200000"
((acct_sockets >= 1 && acct_sockets <= 1024)) || die "--acct-sockets: 1..1024"
[[ -x $keycard ]] || die "$keycard is not an executable (make build)"
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
freeradius=${FREERADIUS:-$(command -v freeradius || echo /usr/sbin/freeradius)}
[[ -x $freeradius ]] || die "freeradius is missing (apt-get install freeradius)"
"$keycard" bench --help 2>&1 | grep -q -- --allow-late-message-authenticator ||
	die "this keycard has no 'bench --allow-late-message-authenticator' (needed for FreeRADIUS 3.2.1, which puts Message-Authenticator last)"
"$keycard" bench accounting --help 2>&1 | grep -q -- --acked ||
	die "this keycard has no 'bench accounting --acked'"
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
# unique_port VAR: a free port that none of the ports taken so far uses.
taken=("$kport" "$fport" "$fport2")
unique_port() {
	local p
	while :; do
		p=$(freeport) || exit
		[[ " ${taken[*]} " == *" $p "* ]] || break
	done
	taken+=("$p")
	printf -v "$1" %s "$p"
}
unique_port pqport
unique_port kaport # Keycard accounting
unique_port faport # FreeRADIUS accounting

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
  acct_listen: ["127.0.0.1:$kaport"]
metrics:
  listen: ""
log:
  level: warn
  format: text
YAML
# A second Keycard on the same data folder that prefers the hybrid
# post-quantum key exchange (Go's client offers it first): its ClientHello
# key share spans two EAP fragments and the server pays for ML-KEM. It
# takes no accounting (the first one does).
pqcfg=$tmp/keycard-pq.yaml
sed -e "s/127.0.0.1:$kport/127.0.0.1:$pqport/" -e 's/^  acct_listen: .*$/  acct_listen: []/' \
	-e 's/^radius:$/radius:\n  curves: [X25519MLKEM768, X25519, P-256]/' "$cfg" >"$pqcfg"
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
# The accounting rows use this one's accounting port.
"$here/freeradius.sh" --dir "$tmp/freeradius-nocache" --port "$fport2" --secret "$secret" \
	--cert "$tmp/server/server.crt" --key "$tmp/server/server.key" --ca "$tmp/server/ca.pem" \
	--threads "$threads" --no-cache --acct-port "$faport" >"$tmp/freeradius-nocache.out" 2>&1 &
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

# acct SERVER-PORT EXTRA-ARGS... runs keycard bench accounting and prints
# its JSON.
acct() {
	local port=$1
	shift
	timeout 600 "$keycard" bench accounting --server "127.0.0.1:$port" --secret "$secret" \
		--sockets "$acct_sockets" --duration 5m --json "$@"
}
# The accounting ports answer once the servers above authenticate; one
# record each proves it.
acct "$kaport" --count 1 --sockets 1 --first-session 900000000 >/dev/null 2>&1 ||
	die "keycard does not answer accounting on 127.0.0.1:$kaport; see $tmp"
acct "$faport" --count 1 --sockets 1 --first-session 900000000 >/dev/null 2>&1 ||
	die "freeradius does not answer accounting on 127.0.0.1:$faport; see $tmp"

# cputicks PID: utime+stime of the process (all threads), in clock ticks.
cputicks() {
	# Field 2 (comm) may hold spaces; count fields after its closing ')'.
	awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# results.tsv, one line per measured round:
#   server mode round auths failures auths/s p99-ms cpu-ms/auth resumed rounds/auth
# acct.tsv, one line per measured accounting round:
#   server round acked failures packets/s p99-ms cpu-us/packet
results=$tmp/results.tsv acct_results=$tmp/acct.tsv
: >"$results"
: >"$acct_results"

# measure SERVER PID PORT MODE ROUND EXTRA-ARGS... runs one round; ROUND 0
# is the warm-up, run with --warmup authentications and not recorded.
measure() {
	local server=$1 pid=$2 port=$3 mode=$4 round=$5
	shift 5
	kill -0 "$pid" 2>/dev/null || die "$server is no longer running; see $tmp"
	if ((round == 0)); then
		if ((warmup > 0)); then
			bench "$port" --count "$warmup" "$@" >/dev/null 2>&1 || true
		fi
		return 0
	fi
	local t0 t1 json out=$tmp/$server-$mode-$round
	t0=$(cputicks "$pid")
	# keycard bench exits non-zero when nothing succeeded; the JSON says why.
	json=$(bench "$port" --count "$count" "$@" 2>"$out.err") || true
	t1=$(cputicks "$pid")
	echo "$json" >"$out.json"
	if ! jq -e '.auths' >/dev/null 2>&1 <<<"$json"; then
		echo "run.sh: $server $mode round $round: keycard bench gave no report: $(tail -1 "$out.err")" >&2
		json='{"auths":0,"failures":0,"auths_per_sec":0,"p99_ms":0,"resumed":0,"rounds_per_auth":0}'
	fi
	local failures auths
	failures=$(jq -r '.failures' <<<"$json")
	auths=$(jq -r '.auths' <<<"$json")
	if ((failures != 0)); then
		echo "run.sh: $server $mode round $round: $failures failures: $(jq -c '.failure_causes' <<<"$json") $(jq -r '.first_error // ""' <<<"$json")" >&2
	fi
	jq -r --arg s "$server" --arg m "$mode" --argjson r "$round" --argjson cpu "$(((t1 - t0) * 1000 / clk))" \
		'[$s, $m, $r, .auths, .failures, .auths_per_sec, .p99_ms, (if .auths > 0 then $cpu / .auths else 0 end), .resumed, .rounds_per_auth] | @tsv' \
		<<<"$json" >>"$results"
	echo "run.sh: $server $mode round $round: $auths auths, $(jq -r '.auths_per_sec | floor' <<<"$json")/s" >&2
}

# measure_acct SERVER PID PORT ROUND: one accounting round; ROUND 0 is the
# warm-up (a tenth of the sessions, not recorded). Each round has its own
# Acct-Session-Ids, and writes what was acknowledged to SERVER-acked-ROUND.jsonl.
measure_acct() {
	local server=$1 pid=$2 port=$3 round=$4
	kill -0 "$pid" 2>/dev/null || die "$server is no longer running; see $tmp"
	local n=$acct_count
	((round > 0)) || n=$(((acct_count + 9) / 10))
	local t0 t1 json out=$tmp/$server-accounting-$round
	t0=$(cputicks "$pid")
	json=$(acct "$port" --count "$n" --first-session "$((round * 1000000))" --acked "$tmp/$server-acked-$round.jsonl" 2>"$out.err") || true
	t1=$(cputicks "$pid")
	echo "$json" >"$out.json"
	((round > 0)) || return 0
	if ! jq -e '.acked' >/dev/null 2>&1 <<<"$json"; then
		echo "run.sh: $server accounting round $round: keycard bench accounting gave no report: $(tail -1 "$out.err")" >&2
		json='{"acked":0,"failures":0,"packets_per_sec":0,"p99_ms":0}'
	fi
	if (($(jq -r '.failures' <<<"$json") != 0)); then
		echo "run.sh: $server accounting round $round: $(jq -c '.failure_causes' <<<"$json") $(jq -r '.first_error // ""' <<<"$json")" >&2
	fi
	jq -r --arg s "$server" --argjson r "$round" --argjson cpu "$(((t1 - t0) * 1000000 / clk))" \
		'[$s, $r, .acked, .failures, .packets_per_sec, .p99_ms, (if .acked > 0 then $cpu / .acked else 0 end)] | @tsv' \
		<<<"$json" >>"$acct_results"
	echo "run.sh: $server accounting round $round: $(jq -r '.acked' <<<"$json") records, $(jq -r '.packets_per_sec | floor' <<<"$json")/s" >&2
}

modes=("full TLS 1.3|--tls 1.3" "full TLS 1.2|--tls 1.2" "resumed TLS 1.3|--tls 1.3 --resume")
for m in "${modes[@]}"; do
	mode=${m%%|*}
	read -r -a args <<<"${m#*|}"
	for round in $(seq 0 "$rounds"); do
		measure keycard "$kpid" "$kport" "$mode" "$round" "${args[@]}"
		if [[ $mode == resumed* ]]; then
			measure freeradius "$fpid" "$fport" "$mode" "$round" "${args[@]}" --allow-late-message-authenticator
		else
			measure freeradius "$f2pid" "$fport2" "$mode" "$round" "${args[@]}" --allow-late-message-authenticator
		fi
	done
done
# Keycard only: FreeRADIUS 3.2.1 (OpenSSL 3.0) has no ML-KEM.
for round in $(seq 0 "$rounds"); do
	measure keycard "$pqpid" "$pqport" "full TLS 1.3, X25519MLKEM768" "$round" --tls 1.3
done

for round in $(seq 0 "$rounds"); do
	measure_acct keycard "$kpid" "$kaport" "$round"
	measure_acct freeradius "$f2pid" "$faport" "$round"
done

# --- what the servers kept of what they acknowledged ---
# Keycard: every acknowledged record's session, with counters at least the
# record's, closed if the record was a Stop.
kc session list --all --json >"$tmp/keycard-sessions.json"
# shellcheck disable=SC2016 # jq's $ variables
klost=$(jq -n --slurpfile s "$tmp/keycard-sessions.json" '
	($s[0] | map({key: .acct_session_id, value: .}) | from_entries) as $db
	| [inputs | . as $a | $db[$a.acct_session_id] as $r
	   | select($r == null or $r.input_octets < $a.input_octets or $r.output_octets < $a.output_octets
	            or $r.input_packets < $a.input_packets or $r.output_packets < $a.output_packets
	            or ($a.kind == "stop" and $r.stopped_at == null))]
	| length' "$tmp"/keycard-acked-*.jsonl)
kacked=$(cat "$tmp"/keycard-acked-*.jsonl | wc -l)
# FreeRADIUS: each acknowledged (Acct-Session-Id, Acct-Status-Type) in its
# detail file.
awk '/^\tAcct-Session-Id = /  { id = $3; gsub(/"/, "", id) }
     /^\tAcct-Status-Type = / { st = tolower($3); sub(/-update$/, "", st) }
     /^$/ { if (id != "") print id, st; id = ""; st = "" }
     END  { if (id != "") print id, st }' "$tmp"/freeradius-nocache/log/radacct/*/detail-* | sort -u >"$tmp/freeradius-kept.txt"
jq -r '"\(.acct_session_id) \(.kind)"' "$tmp"/freeradius-acked-*.jsonl | sort -u >"$tmp/freeradius-acked.txt"
flost=$(comm -23 "$tmp/freeradius-acked.txt" "$tmp/freeradius-kept.txt" | wc -l)
facked=$(wc -l <"$tmp/freeradius-acked.txt")
if ((klost != 0 || flost != 0)); then
	echo "run.sh: acknowledged accounting records missing afterwards: keycard $klost of $kacked, freeradius $flost of $facked" >&2
fi

# --- the tables ---
# summarize FILE KEYCOLS VALUECOLS...: for each key (the first KEYCOLS
# columns, in first-seen order) the median, min and max of each value
# column over its rows, as "median|min|max".
summarize() {
	awk -F'\t' -v keys="$2" -v cols="$3" '
		function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
		{
			k = $1; for (i = 2; i <= keys; i++) k = k "\t" $i
			if (!(k in n)) order[++nk] = k
			n[k]++
			nc = split(cols, c, ",")
			for (i = 1; i <= nc; i++) v[k, i, n[k]] = $(c[i]) + 0
		}
		END {
			for (o = 1; o <= nk; o++) {
				k = order[o]; line = k
				for (i = 1; i <= nc; i++) {
					for (r = 1; r <= n[k]; r++) a[r] = v[k, i, r]
					sort(a, n[k])
					m = n[k] % 2 ? a[(n[k] + 1) / 2] : (a[n[k] / 2] + a[n[k] / 2 + 1]) / 2
					line = line "\t" m "|" a[1] "|" a[n[k]]
				}
				print line
			}
		}' "$1"
}
# cell FORMAT "median|min|max": "median (min–max)".
cell_awk='function cell(f, s,   p) { split(s, p, "|"); return sprintf(f " (" f "–" f ")", p[1], p[2], p[3]) }
          function med(s,   p) { split(s, p, "|"); return p[1] }'

echo
echo "Keycard ($(basename "$keycard")) vs $("$freeradius" -v 2>/dev/null | head -1 | sed 's/^radiusd: //; s/,.*//' || true),"
echo "$(nproc) cores; median of $rounds rounds per row after a warm-up round, rounds alternating between the servers; (min–max) over the rounds."
echo
echo "EAP-TLS: $concurrency concurrent devices, $count authentications per round, ECDSA P-256 certificates from Keycard's CA."
echo
echo "| server | mode | auths/s | p99 ms | CPU ms/auth | resumed | rounds/auth | failures |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
# Authentications, failures and resumed are summed over the rounds.
awk -F'\t' '{ k = $1 "\t" $2; if (!(k in a)) o[++n] = k; a[k] += $4; f[k] += $5; r[k] += $9 }
	END { for (i = 1; i <= n; i++) print o[i] "\t" a[o[i]] "\t" f[o[i]] "\t" r[o[i]] }' "$results" >"$tmp/totals.tsv"
summarize "$results" 2 6,7,8,10 | paste - "$tmp/totals.tsv" | awk -F'\t' "$cell_awk"'
	{ printf "| %s | %s | %s | %s | %s | %d/%d | %.1f | %d |\n", $1, $2, cell("%.0f", $3), cell("%.1f", $4), cell("%.2f", $5), $11, $9, med($6), $10 }'
echo
echo "| mode | auths/s Keycard÷FreeRADIUS | p99 Keycard÷FreeRADIUS | CPU/auth Keycard÷FreeRADIUS |"
echo "| --- | ---: | ---: | ---: |"
summarize "$results" 2 6,7,8 | awk -F'\t' "$cell_awk"'
	$1 == "keycard"    { k[$2] = $0; order[++n] = $2 }
	$1 == "freeradius" { f[$2] = $0 }
	function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
	END {
		for (i = 1; i <= n; i++) {
			m = order[i]
			split(k[m], K, "\t"); split(f[m], F, "\t")
			printf "| %s | %s | %s | %s |\n", m, ratio(med(K[3]), med(F[3])), ratio(med(K[4]), med(F[4])), ratio(med(K[5]), med(F[5]))
		}
	}'
echo
echo "Accounting: $acct_sockets access points, $acct_count sessions (Start, Interim-Update, Stop: $((3 * acct_count)) records) per round."
echo
echo "| server | records/s | p99 ms | CPU µs/record | lost | failures |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
awk -F'\t' '{ f[$1] += $4 } END { for (s in f) print s "\t" f[s] }' "$acct_results" | sort >"$tmp/acct-failures.tsv"
summarize "$acct_results" 1 5,6,7 | awk -F'\t' -v kl="$klost/$kacked" -v fl="$flost/$facked" "$cell_awk"'
	BEGIN { while ((getline l < "'"$tmp/acct-failures.tsv"'") > 0) { split(l, p, "\t"); fail[p[1]] = p[2] } }
	{ printf "| %s | %s | %s | %s | %s | %d |\n", $1, cell("%.0f", $2), cell("%.1f", $3), cell("%.0f", $4), ($1 == "keycard" ? kl : fl), fail[$1] }'
echo
summarize "$acct_results" 1 5,6,7 | awk -F'\t' "$cell_awk"'
	$1 == "keycard" { split($0, K, "\t") } $1 == "freeradius" { split($0, F, "\t") }
	function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
	END { printf "Keycard÷FreeRADIUS: records/s %s, p99 %s, CPU/record %s.\n", ratio(med(K[2]), med(F[2])), ratio(med(K[3]), med(F[3])), ratio(med(K[4]), med(F[4])) }'
echo
echo "CPU is server utime+stime over the measured round (clock ticks of $((1000 / clk)) ms) divided by successful authentications or acknowledged records;"
echo "auths/s, records/s and p99 also depend on the load generator, which shares the machine's cores with the server under test."
echo "FreeRADIUS 3.2.1 resumes no TLS 1.2 session from Go clients (tickets off) and about every other TLS 1.3 one; see the resumed column."
echo "FreeRADIUS runs full handshakes with its TLS session cache off and the resumed row with it on (persist_dir), each its better set-up."
echo "Keycard acknowledges a record only once it is committed and fsynced ($(df -T "$tmp" | awk 'NR == 2 { print $2 }') under $tmp); FreeRADIUS's detail module writes it without fsync."
echo "Lost: acknowledged records missing afterwards (Keycard: session list --all --json; FreeRADIUS: its detail file), of all acknowledged in every round, the warm-up included."
