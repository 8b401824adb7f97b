#!/usr/bin/env bash
# What the benchmarks need on this host beyond the tests' (scripts/test-setup.sh): the real peers they measure beside
# the mesh (issue 20). `npm run bench` runs it (prebench). Idempotent: installed packages are left alone. As root it
# installs what is missing (apt under /work/apt.lock when that lock exists); otherwise it says what to run, and the
# benchmark reports those peers' figures as null.
set -u
PACKAGES=(
  serf          # peers.serf: N Serf agents on loopback, user events and member-failed to bash handlers
  etcd-server   # peers.etcd: one etcd server, private data folder and ports
  etcd-client   # peers.etcd: N `etcdctl watch --prefix ... -- <handler>` watchers
)
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
command -v dpkg-query >/dev/null 2>&1 || { echo "bench-setup: not a Debian host: install ${PACKAGES[*]} yourself" >&2; exit 0; }
missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "bench-setup: not installed: ${missing[*]} (their figures will be null); run: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
echo "bench-setup: installing ${missing[*]}" >&2
lock=()
[ -e /work/apt.lock ] && command -v flock >/dev/null && lock=(flock /work/apt.lock)
"${lock[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${lock[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null \
  || echo "bench-setup: could not install ${missing[*]} (their figures will be null)" >&2
exit 0
