#!/usr/bin/env bash
# npm run setup: installs what the testbed needs on Debian and starts the Docker engine.
# Idempotent: installs only what is missing, starts dockerd only when it does not answer.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v ldd >/dev/null 2>&1 || need+=(libc-bin)
[ -x /usr/bin/etcd ] || need+=(etcd-server)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

docker_up() { $SUDO docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if ! docker_up; then
  echo "setup: starting dockerd"
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    $SUDO systemctl start docker || true
  fi
  if ! docker_up; then
    if command -v service >/dev/null 2>&1; then $SUDO service docker start >/dev/null 2>&1 || true; fi
  fi
  if ! docker_up; then
    mkdir -p /tmp/mbft-setup
    $SUDO sh -c 'nohup dockerd >/tmp/mbft-setup/dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do docker_up && break; sleep 0.5; done
  docker_up || { echo "setup: dockerd did not start; see /tmp/mbft-setup/dockerd.log" >&2; exit 1; }
fi

# The switch emulator filters bridged frames with iptables (-m physdev): br_netfilter must be on.
if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  $SUDO modprobe br_netfilter 2>/dev/null || echo "setup: warning: cannot load br_netfilter; the switch emulator will refuse to apply rules" >&2
fi
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  echo 1 | $SUDO tee /proc/sys/net/bridge/bridge-nf-call-iptables >/dev/null || true
fi

echo "setup: docker $(docker version --format '{{.Server.Version}}'), $(iptables --version), etcd $([ -x /usr/bin/etcd ] && echo present)"
