#!/bin/sh
# Check for everything iomux needs to build and test, and install what is
# missing. Idempotent: when all is present it only checks.
# `scripts/deps.sh bench` also checks the lab's extras: the libuv, libev and
# libevent echo servers it compares iomux against, and wrk and wget2 for the
# fetch benchmark.
#   - as root on Debian/Ubuntu: apt-get installs the missing packages
#     (refreshing the package lists first when they are empty or stale);
#   - otherwise: prints the exact command to run and fails.
set -eu

missing=""
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need_pc() { pkg-config --exists "$1" 2>/dev/null || missing="$missing $2"; }

need_cmd cc gcc
need_cmd make make
need_cmd cmake cmake
need_cmd pkg-config pkg-config
need_pc cmocka libcmocka-dev
need_pc liburing liburing-dev # the proactor's io_uring backend
need_pc openssl libssl-dev # https in the http layer (optional to build)
need_cmd curl curl # fetch tests: probing nginx; the fetch benchmark
need_cmd openssl openssl # fetch tests: a throwaway CA and certificate
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 ||
  missing="$missing nginx-light" # fetch tests: a real server
# Real servers the tests start themselves (never as a system service):
# ngircd for the chat client's test and the chat bench.
{ [ -x /usr/sbin/ngircd ] || command -v ngircd >/dev/null 2>&1; } ||
  missing="$missing ngircd"
need_cmd ii ii                # chat.ii: a real IRC client against iomux-chatd
need_cmd weechat-headless weechat-headless # chat.weechat: WeeChat, likewise
# iomux-chatd --cluster and include/iomux/hiredis.h: hiredis (linked
# statically into chatd) and redis-server, which the tests and the bench
# start themselves on a free port or a unix socket (never the service).
need_pc hiredis libhiredis-dev
need_cmd redis-server redis-server
need_cmd clang clang          # the fuzz targets' corpus tests (libFuzzer)
if [ "${1:-}" = bench ]; then
  need_pc libuv libuv1-dev
  need_pc libevent libevent-dev
  [ -f /usr/include/ev.h ] || missing="$missing libev-dev"
  need_cmd wrk wrk # the fetch benchmark: nginx's own ceiling
  need_cmd wget2 wget2
fi

[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "iomux: missing packages:$missing" >&2
  echo "iomux: install them with:  sudo $cmd" >&2
  exit 1
fi

echo "iomux: installing$missing" >&2
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*_Packages*' -mtime -7 2>/dev/null)" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
fi
# Servers (ngircd, redis-server, ...) are packaged to start as system services on install;
# the tests start their own on free ports, so keep the packages from starting
# theirs: policy-rc.d answering 101 ("not allowed") for the install's length.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
# A list older than the mirror names files it no longer has: refresh, retry.
DEBIAN_FRONTEND=noninteractive $cmd >&2 ||
  { DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
    DEBIAN_FRONTEND=noninteractive $cmd >&2; }
