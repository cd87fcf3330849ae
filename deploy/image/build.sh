#!/bin/sh
# Build the videorec image with podman where there is no Docker daemon and no registry of base
# images (see README "Deploying"). Elsewhere `docker build -f Containerfile -t videorec .` is enough.
#
#   deploy/image/build.sh [TAG]          (default videorec:latest; run from anywhere, as root)
#
# It only adds what such a machine lacks: an engine configuration of the project's own (no system
# file changed), a Debian base made with debootstrap and tagged as the name the Containerfile uses,
# and the host's CA bundle mounted during the build only (never in the context, never in a layer).
set -eu

tag=${1:-videorec:latest}
root=$(cd "$(dirname "$0")/../.." && pwd)
base=docker.io/library/debian:bookworm-slim
work=${VIDEOREC_PODMAN_DIR:-$root/build/podman}
mkdir -p "$work"

if [ -z "${CONTAINERS_CONF:-}" ]; then
	# No default ulimits (not permitted here); cgroupfs and runc (crun refuses the hybrid cgroup layout).
	cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
	CONTAINERS_CONF=$work/containers.conf
	export CONTAINERS_CONF
fi

# What makes Debian's published bookworm-slim slim: no package caches, lists, manuals or docs, and
# dpkg told not to install them later.
slim() {
	rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* \
		"$1"/usr/share/man/* "$1"/usr/share/info/* "$1"/usr/share/locale/*
	printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
		'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
		'path-exclude /usr/share/locale/*' >"$1/etc/dpkg/dpkg.cfg.d/slim"
	printf '%s\n' 'APT::Keep-Downloaded-Packages "false";' >"$1/etc/apt/apt.conf.d/slim"
}

# A root made by debootstrap, with whatever an interrupted run left mounted inside it, goes whole.
remove_root() {
	[ -d "$1" ] || return 0
	grep -o " $1/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r mount; do
		umount -l "$mount" 2>/dev/null || true
	done
	rm -rf "$1"
}

# One build at a time per work folder (two test workers, or a user's second `make image`), and
# every run starts from nothing a killed run left behind: the base is made in a folder of its own.
exec 9>"$work/build.lock"
flock 9
for stale in "$work"/debian-root*; do remove_root "$stale"; done

if ! podman image exists "$base"; then
	if command -v debootstrap >/dev/null; then
		mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
		rootfs=$(mktemp -d "$work/debian-root.XXXXXX")
		trap 'remove_root "$rootfs"' EXIT
		trap 'exit 130' INT TERM
		debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >"$work/debootstrap.log"
		slim "$rootfs"
		tar -C "$rootfs" -c . | podman import - "$base" >/dev/null
		remove_root "$rootfs"
		trap - EXIT
	else
		podman pull "$base"
	fi
fi

# --format docker: the OCI format has no HEALTHCHECK, and podman would drop it.
set -- --pull=never --network host --format docker --layers -f "$root/Containerfile" -t "$tag"
ca=${PIP_CERT:-}
if [ -n "$ca" ] && [ -f "$ca" ]; then
	set -- "$@" --volume "$ca:/run/host-ca.crt:ro" --build-arg HOST_CA=/run/host-ca.crt
fi
podman build "$@" "$root"
