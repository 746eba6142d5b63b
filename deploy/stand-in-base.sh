#!/usr/bin/env bash
# Builds a local stand-in for the official node:20-bookworm-slim image, for machines that reach
# Debian's mirror but no container registry (this project's CI): a minimal Debian bookworm made by
# debootstrap, plus this machine's Node.js 20 and npm laid out as the official image has them
# (/usr/local/bin/node, npm and npx; user and group `node`, uid and gid 1000). Tagged with the
# official name, so the Dockerfile is the one users build against the real image.
# Does nothing when the official image is there, or this stand-in with the same Node.js. Needs root.
set -euo pipefail
image=${1:-node:20-bookworm-slim}
node_bin=$(command -v node)
version=$("$node_bin" --version)
case "$version" in v20.*) ;; *) echo "stand-in-base: $image needs Node.js 20, this machine has $version" >&2; exit 1 ;; esac
if built=$(docker image inspect -f '{{ index .Config.Labels "tokentally.stand-in.node" }}' "$image" 2>/dev/null); then
  case "$built" in
    "$version") echo "stand-in-base: $image (Node.js $version) is already built"; exit 0 ;;
    "" | "<no value>") echo "stand-in-base: $image is the official image, kept"; exit 0 ;;
  esac
fi
# The mirror this machine's apt already uses, so nothing here names a host.
mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
node_prefix=$(cd "$(dirname "$node_bin")/.." && pwd)

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "stand-in-base: debootstrap bookworm (minbase) from $mirror"
debootstrap --variant=minbase bookworm "$root/rootfs" "$mirror" > "$root/debootstrap.log" 2>&1 || { tail -n 30 "$root/debootstrap.log" >&2; exit 1; }
chroot "$root/rootfs" sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin'
# apt inside the image uses the same mirror, as the official image uses Debian's.
cat > "$root/rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
SOURCES
install -D -m 0755 "$node_bin" "$root/rootfs/usr/local/bin/node"
mkdir -p "$root/rootfs/usr/local/lib/node_modules" "$root/rootfs/usr/local/include"
cp -a "$npm_dir" "$root/rootfs/usr/local/lib/node_modules/npm"
# Node's headers, which the official image also ships, so native addons build without a download.
[ -d "$node_prefix/include/node" ] && cp -a "$node_prefix/include/node" "$root/rootfs/usr/local/include/node"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/rootfs/usr/local/bin/npx"
chroot "$root/rootfs" sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'

tar -C "$root/rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${version#v}" \
  --change "LABEL tokentally.stand-in.node=$version" \
  --change 'CMD ["node"]' \
  - "$image" > /dev/null
echo "stand-in-base: built $image from Debian bookworm and Node.js $version"
