#!/usr/bin/env bash
# Docker for the tests (and `meshconf simulate lamp --target docker`): dockerd running, the host's forwarding between
# network namespaces kept working beside it, and the agent image built (once: a later run whose inputs did not change
# only checks them). Needs root, the docker.io package and a build (dist/agent/main.bundle.js). Idempotent; it never
# stops or restarts a running dockerd (other runs share it).
set -u
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# dockerd sets the FORWARD policy to DROP: accept forwarding inside 10.192.0.0/10, where the netns target's
# namespaces and the benchmarks' live (manager/targets/forwarding.ts adds the same rule from the targets)
rule=(FORWARD -s 10.192.0.0/10 -d 10.192.0.0/10 -m comment --comment meshconf-netns -j ACCEPT)
as_root iptables -w -C "${rule[@]}" 2>/dev/null || as_root iptables -w -I "${rule[@]}" || exit 1

socket=/var/run/docker.sock
engine_answers() { [ -S "$socket" ] && as_root docker version >/dev/null 2>&1; }
if ! engine_answers; then
  echo "starting dockerd (log: /var/log/dockerd.log)"
  # no systemd on the CI machine: dockerd in its own session, so that it outlives this script
  as_root setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do engine_answers && break; sleep 1; done
  engine_answers || { echo "dockerd did not answer on $socket within 60 s: see /var/log/dockerd.log" >&2; exit 1; }
fi

# the agent image of this build, meshconf-agent:<version>: reused when its inputs did not change
as_root node bin/meshconf.js image build || exit 1
