#!/usr/bin/env bash
# Installs the real peers the tests drive: wpa_supplicant's eapol_test,
# FreeRADIUS (the benchmark peer), radclient, hostapd + wpa_supplicant
# on a veth pair (ip from iproute2), Chromium (the guest's browser in the
# portal test, with a font for its screenshots) and xmllint (the profile
# tests check the eap-config against its XSD). Debian packages only.
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
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/deps.sh: missing ${need[*]}; install them (sudo apt-get install ${need[*]}) or run as root" >&2
  exit 1
fi
echo "Installing ${need[*]} from Debian ..."
export DEBIAN_FRONTEND=noninteractive

# Debian starts the freeradius service on install; the tests run their own
# instances on other ports, so the one the install started must go. But this
# host may run FreeRADIUS in production: stop only what the install itself
# started (the service if it was not active before, otherwise the processes
# that are new, by PID) and disable the service only if it was not enabled
# before. Nothing is killed by name.
freeradius_pids() { pgrep -x freeradius 2>/dev/null | sort -n || true; }
have_systemd=no
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then have_systemd=yes; fi
was_active=no
was_enabled=no
if [ "$have_systemd" = yes ]; then
  if systemctl is-active --quiet freeradius 2>/dev/null; then was_active=yes; fi
  if systemctl is-enabled --quiet freeradius 2>/dev/null; then was_enabled=yes; fi
else
  # The init script's daemon writes its PID here.
  pidfile=/run/freeradius/freeradius.pid
  if [ -r "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then was_active=yes; fi
fi
pids_before=$(freeradius_pids)

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

if [ "$have_systemd" = yes ]; then
  if [ "$was_active" = no ] && systemctl is-active --quiet freeradius 2>/dev/null; then
    systemctl stop freeradius >/dev/null 2>&1 || true
  fi
  if [ "$was_enabled" = no ] && systemctl is-enabled --quiet freeradius 2>/dev/null; then
    systemctl disable freeradius >/dev/null 2>&1 || true
  fi
fi
# Without systemd (a container), the package's init script may have started
# its daemon: stop the freeradius processes that were not there before, by
# PID. When the service was running before, a new PID is that service
# restarted by the upgrade of a shared package: leave everything alone then.
if [ "$was_active" = no ]; then
  for pid in $(freeradius_pids); do
    if ! printf '%s\n' "$pids_before" | grep -qx "$pid"; then
      kill "$pid" 2>/dev/null || true
    fi
  done
fi
