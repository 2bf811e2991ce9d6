#!/bin/sh
# Makes a base image for the Dockerfile without Docker Hub: a minimal Debian bookworm root filesystem from Debian's
# own packages (debootstrap), with Python 3.11 and venv, imported as a Docker image.
#
#   sudo sh docker/make-offline-base.sh [IMAGE_TAG] [ROOTFS_DIR] [MIRROR]
#   docker build --build-arg BASE_IMAGE=local/debian-python:bookworm -t dlcompress .
#
# Needs root, debootstrap (apt-get install debootstrap) and a running Docker daemon; reaches only the Debian mirror.
# EXTRA_CA_DIR=/usr/local/share/ca-certificates adds that folder's *.crt to the image's trust store: behind a
# TLS-intercepting proxy, pip inside the build trusts the proxy's CA as the host does. The image sets
# PIP_CERT to Debian's bundle, so pip in a venv uses the system store (with those CAs) instead of its own certifi.
set -eu

tag=${1:-local/debian-python:bookworm}
rootfs=${2:-/tmp/dlcompress-rootfs}
mirror=${3:-http://deb.debian.org/debian}

if [ -e "$rootfs" ]; then
    echo "make-offline-base.sh: $rootfs exists; remove it or name another folder" >&2
    exit 2
fi
# minbase: essential packages and apt only; python3-venv brings ensurepip (pip inside each venv), passwd useradd.
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,passwd,ca-certificates \
    bookworm "$rootfs" "$mirror"
if [ -n "${EXTRA_CA_DIR:-}" ]; then
    cp "$EXTRA_CA_DIR"/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates
fi
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/tmp/*
tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' --change 'CMD ["python3"]' - "$tag"
rm -rf "$rootfs"
docker run --rm "$tag" python3 -c 'import sys, venv, ensurepip; print("base ok: Python", sys.version.split()[0])'
