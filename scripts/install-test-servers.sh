#!/usr/bin/env bash
# Installs the real servers the integration tests start (Dovecot, PostgreSQL, Chromium) from
# Debian's packages when they are missing. Needs root; without it the tests that need a missing
# server skip, or fail when RESPONDER_REQUIRE_SERVERS=1.
set -u
missing=()
command -v dovecot >/dev/null 2>&1 || missing+=(dovecot-imapd)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: missing test servers (${missing[*]}); install them as root with apt-get" >&2
  exit 0
fi
echo "installing test servers: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
