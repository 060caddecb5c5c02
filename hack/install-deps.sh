#!/bin/sh
# Installs the Debian packages kplex-devhost and the datastore tests need.
# Idempotent: packages already installed are left alone; apt-get runs only when
# something is missing. Usage: sudo hack/install-deps.sh
set -eu

# containerd, runc: the container runtime devhost starts inside its network namespace.
# containernetworking-plugins: bridge, host-local, portmap, loopback (in /usr/lib/cni).
# iptables, nftables, conntrack, ipset: kube-proxy (nftables mode) and kube-router's
#   network policy controller (iptables + ipset).
# busybox-static: the binary inside the kplex/testbox test image.
# iproute2: ip netns / ip link for the devhost network namespace and veth pair.
# util-linux: nsenter, mount, umount.
# postgresql: the PostgreSQL datastore tests.
PACKAGES="containerd runc containernetworking-plugins iptables nftables conntrack ipset
busybox-static iproute2 util-linux postgresql"

if [ "$(uname -s)" != Linux ]; then
	echo "install-deps: this script needs Debian or Ubuntu Linux (found $(uname -s))" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: run as root: sudo $0" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: apt-get not found: install these packages with your package manager: $(echo $PACKAGES)" >&2
	exit 1
fi

missing=""
for p in $PACKAGES; do
	if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != installed ]; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
echo "install-deps: done"
