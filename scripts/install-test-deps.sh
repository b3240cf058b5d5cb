#!/usr/bin/env bash
# What `npm test` needs beyond Node.js: Debian packages the tests drive as real peers. Installed
# with apt-get when missing (as root, or through sudo when it needs no password); otherwise the
# missing ones are named and the tests that need them report themselves skipped.
set -euo pipefail

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# a stock Prometheus server: test/e2e/telemetry.test.ts scrapes the mesh with it
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# a real etcd cluster: test/control/store/store-etcd*.test.ts and test/e2e/control-replicas.test.ts start one
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
# Debian's Chromium: test/e2e/dashboard.test.ts drives it with playwright-core (no browser download)
[ -x /usr/bin/chromium ] || need+=(chromium fonts-dejavu-core)
# openssl s_client and curl against the sidecar's mTLS inbound listener: test/proxy/tls/
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
# nghttp and h2load (h2c through the sidecars): test/e2e/grpc.test.ts
command -v nghttp >/dev/null 2>&1 || need+=(nghttp2-client)
# the SO_ORIGINAL_DST addon (native/, built by node-gyp at npm ci) and test/e2e/netns/ (iptables in namespaces)
command -v g++ >/dev/null 2>&1 || need+=(g++ make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
[ ${#need[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo -n)
  else
    echo "test set-up: missing ${need[*]}; not root and no password-less sudo, so the tests that need them will be skipped (install them with apt-get)" >&2
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "test set-up: missing ${need[*]} and no apt-get here; the tests that need them will be skipped" >&2
  exit 0
fi
echo "test set-up: installing ${need[*]}" >&2
install() { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
install || ("${as_root[@]}" apt-get update >/dev/null && install)
