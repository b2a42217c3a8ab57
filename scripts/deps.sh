#!/usr/bin/env bash
# Installs the real peers the tests drive: wpa_supplicant's eapol_test,
# FreeRADIUS (the benchmark peer), radclient, and hostapd + wpa_supplicant
# on a veth pair (ip from iproute2). Debian packages only.
# Does nothing when they are all present; needs root (CI runs as root).
set -euo pipefail
need=()
command -v eapol_test >/dev/null 2>&1 || need+=(eapoltest)
command -v freeradius >/dev/null 2>&1 || need+=(freeradius)
command -v radclient >/dev/null 2>&1 || need+=(freeradius-utils)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v hostapd >/dev/null 2>&1 || need+=(hostapd)
command -v wpa_supplicant >/dev/null 2>&1 || need+=(wpasupplicant)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/deps.sh: missing ${need[*]}; install them (sudo apt-get install ${need[*]}) or run as root" >&2
  exit 1
fi
echo "Installing ${need[*]} from Debian ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the freeradius service on install; the tests run their own
# instances on other ports, so keep the system one out of the way.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now freeradius >/dev/null 2>&1 || true; fi
pkill -x freeradius >/dev/null 2>&1 || true
