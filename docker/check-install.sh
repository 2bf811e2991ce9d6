#!/bin/sh
# Runs the Docker image's install steps (docker/install.sh, the very script the Dockerfile runs) in a fresh virtual
# environment outside Docker, then `dlcompress --help` from it: a check of the image's install where no Docker
# daemon can run.
#
#   sh docker/check-install.sh [VENV_DIR]        (default: a new folder under /tmp, removed afterwards)
#
# The same settings as the image's build arguments, as environment variables: EXTRAS, TORCH_INDEX_URL,
# TORCH_PACKAGES, PIP_FIND_LINKS, PIP_TRUSTED_HOST. Like the image, pip reads no configuration file here
# (PIP_CONFIG_FILE=/dev/null); PIP_* environment variables still apply.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -ge 1 ]; then
    venv=$1
    keep=1
else
    venv=$(mktemp -d /tmp/dlcompress-check-XXXXXX)/venv
    keep=0
fi
if [ -e "$venv" ]; then
    echo "check-install.sh: $venv exists; the check needs a fresh virtual environment" >&2
    exit 2
fi
export PIP_CONFIG_FILE=/dev/null

# a copy of what the Dockerfile copies (pyproject.toml, README.md, dlcompress/), so that pip builds in a clean folder
src=$(mktemp -d /tmp/dlcompress-src-XXXXXX)
cleanup() {
    rm -rf "$src"
    if [ "$keep" = 0 ]; then rm -rf "$(dirname "$venv")"; fi
}
trap cleanup EXIT
cp "$here/pyproject.toml" "$here/README.md" "$src/"
(cd "$here" && tar --exclude=__pycache__ -c dlcompress) | tar -C "$src" -x

sh "$here/docker/install.sh" "$venv" "$src"

cd /tmp
"$venv/bin/dlcompress" --help
echo "check-install.sh: ok (venv $venv)"
