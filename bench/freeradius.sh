#!/usr/bin/env bash
# freeradius.sh: run Debian's FreeRADIUS 3.2 as an EAP-TLS server on loopback,
# with the same certificates as Keycard, from a minimal radiusd.conf written
# into a private folder. Used by bench/run.sh and by the loadgen interop test.
#
#   bench/freeradius.sh --dir DIR --port PORT --secret SECRET \
#       --cert server.crt --key server.key --ca ca.pem [--threads N] [--debug]
#       [--acct-port PORT]
#
#   --cert   server certificate, PEM; may be followed by its intermediate(s)
#   --chain  extra intermediate(s) to append to --cert (optional)
#   --key    the server's private key, PEM, unencrypted
#   --ca     CA certificate(s) the client certificates chain to (root and
#            intermediate), PEM
#   --dir    folder for the configuration, log and session cache; created,
#            and must not hold anything else you care about
#   --threads  worker threads (default 2: this runs on small machines)
#   --no-cache  turn the TLS session cache off (no resumption, and no
#            session files written to disk on every authentication)
#   --acct-port  also listen for accounting on this port, recorded as
#            Debian's default site does it: the detail module, one file per
#            NAS and day under DIR/log/radacct (written, not fsynced)
#   --debug  run with -X (full debug to stdout) instead of a log file
#   --check-only  write the configuration, check it (-C), and exit
#
# The script ends by exec'ing freeradius in the foreground (-f), so the
# caller's child PID is the server's PID: stop it with SIGTERM, read its CPU
# time from /proc/PID/stat. Nothing is written outside --dir.
set -euo pipefail

die() { echo "freeradius.sh: $*" >&2; exit 2; }

dir="" port="" acct_port="" secret="" cert="" chain="" key="" ca="" threads=2 debug=0 check=0 cache=yes
while (($#)); do
	case "$1" in
	--dir) dir=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	--acct-port) acct_port=$2; shift 2 ;;
	--secret) secret=$2; shift 2 ;;
	--cert) cert=$2; shift 2 ;;
	--chain) chain=$2; shift 2 ;;
	--key) key=$2; shift 2 ;;
	--ca) ca=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--debug) debug=1; shift ;;
	--no-cache) cache=no; shift ;;
	--check-only) check=1; shift ;;
	-h | --help) sed -n '2,29p' "$0"; exit 0 ;;
	*) die "unknown argument $1" ;;
	esac
done
[[ -n $dir && -n $port && -n $secret && -n $cert && -n $key && -n $ca ]] ||
	die "need --dir, --port, --secret, --cert, --key and --ca (see --help)"
[[ $port =~ ^[0-9]+$ ]] || die "--port: $port is not a number"
[[ -z $acct_port || $acct_port =~ ^[0-9]+$ ]] || die "--acct-port: $acct_port is not a number"
[[ $threads =~ ^[0-9]+$ && $threads -ge 1 ]] || die "--threads: $threads is not a positive number"
[[ $secret =~ ^[A-Za-z0-9._+=/-]+$ ]] || die "--secret: use letters, digits and ._+=/- only (it is written into a config file)"
for f in "$cert" "$key" "$ca" ${chain:+"$chain"}; do
	[[ -r $f ]] || die "cannot read $f"
done
bin=${FREERADIUS:-$(command -v freeradius || true)}
[[ -n $bin ]] || bin=/usr/sbin/freeradius
[[ -x $bin ]] || die "freeradius not found (apt-get install freeradius)"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
chmod 700 "$dir"
mkdir -p "$dir/certs" "$dir/run" "$dir/log" "$dir/tlscache" "$dir/log/radacct"

# FreeRADIUS wants the chain in certificate_file and the trust anchors for
# client certificates in ca_file.
cat "$cert" ${chain:+"$chain"} >"$dir/certs/server.pem"
install -m 600 "$key" "$dir/certs/server.key"
cat "$ca" >"$dir/certs/ca.pem"

acct_listen=""
if [[ -n $acct_port ]]; then
	acct_listen=$(printf '\tlisten {\n\t\ttype = acct\n\t\tipaddr = 127.0.0.1\n\t\tport = %s\n\t}\n' "$acct_port")
fi

# The worker pool: FreeRADIUS 3 runs one request per thread; TLS is CPU
# bound, so more threads than cores only adds contention.
cat >"$dir/radiusd.conf" <<CONF
# Written by bench/freeradius.sh; minimal EAP-TLS server for benchmarks.
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = $dir
sbindir = /usr/sbin
logdir = $dir/log
raddbdir = $dir
radacctdir = $dir/log/radacct
name = freeradius
confdir = $dir
modconfdir = $dir
certdir = $dir/certs
cadir = $dir/certs
run_dir = $dir/run
db_dir = $dir
libdir = /usr/lib/freeradius
pidfile = $dir/run/freeradius.pid

max_request_time = 30
cleanup_delay = 5
max_requests = 16384
hostname_lookups = no

log {
	destination = files
	file = $dir/log/radius.log
	colourise = no
	auth = no
	auth_badpass = no
	auth_goodpass = no
}

security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}

proxy_requests = no

thread pool {
	start_servers = $threads
	max_servers = $threads
	min_spare_servers = 1
	max_spare_servers = $threads
	max_requests_per_server = 0
	max_queue_size = 65536
}

client loadgen {
	ipaddr = 127.0.0.1
	secret = $secret
	require_message_authenticator = yes
	nas_type = other
}

modules {
	eap {
		default_eap_type = tls
		timer_expire = 60
		ignore_unknown_eap_types = no
		cisco_accounting_username_bug = no
		max_sessions = \${max_requests}

		tls-config tls-common {
			private_key_file = $dir/certs/server.key
			certificate_file = $dir/certs/server.pem
			ca_file = $dir/certs/ca.pem
			ca_path = $dir/certs
			auto_chain = no
			fragment_size = 1000
			include_length = yes
			cipher_list = "DEFAULT"
			cipher_server_preference = no
			tls_min_version = "1.2"
			tls_max_version = "1.3"
			ecdh_curve = "X25519:prime256v1"
			check_crl = no
			cache {
				enable = $cache
				lifetime = 1
				name = "bench"
				persist_dir = "$dir/tlscache"
			}
			verify {
			}
			ocsp {
				enable = no
			}
		}

		tls {
			tls = tls-common
		}
	}

	# As Debian's mods-available/detail.
	detail {
		filename = \${radacctdir}/%{%{Packet-Src-IP-Address}:-%{Packet-Src-IPv6-Address}}/detail-%Y%m%d
		escape_filenames = no
		permissions = 0600
		header = "%t"
		locking = no
	}
}

instantiate {
}

server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = $port
	}
$acct_listen
	authorize {
		eap {
			ok = return
		}
	}
	authenticate {
		Auth-Type eap {
			eap
		}
	}
	post-auth {
		Post-Auth-Type REJECT {
			eap
		}
	}
	accounting {
		detail
	}
}
CONF

# A local dictionary is optional; an empty one keeps FreeRADIUS from looking
# in /etc.
: >"$dir/dictionary"

args=(-d "$dir" -n radiusd -D /usr/share/freeradius)
if ((check)); then
	exec "$bin" "${args[@]}" -C
fi
if ((debug)); then
	exec "$bin" "${args[@]}" -f -X
fi
exec "$bin" "${args[@]}" -f -l "$dir/log/radius.log"
