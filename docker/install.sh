#!/bin/sh
# The install steps of the Docker image, in one place: the Dockerfile runs this script, and
# docker/check-install.sh runs the very same script in a fresh virtual environment outside Docker.
#
#   sh docker/install.sh VENV_DIR SOURCE_DIR
#
# Settings (environment variables; the Dockerfile's build arguments of the same names):
#   EXTRAS           extras of the dlcompress package, comma-separated ("openvino", "litert", "tensorflow", "all",
#                    or empty for the core only). Default: openvino.
#   TORCH_INDEX_URL  the index torch and torchvision come from. Default: PyTorch's CPU-only wheels (PyPI's plain
#                    torch is the CUDA build, several GB more).
#   TORCH_PACKAGES   what to install from it, space-separated. Default: the range pyproject.toml allows.
#   TORCH_CPU_ONLY   1 (default): fail when the installed torch is a CUDA build; 0 to allow one.
#   PIP_FIND_LINKS, PIP_TRUSTED_HOST, PIP_INDEX_URL ...: read by pip itself (e.g. local wheels for an offline build).
set -eu

venv=${1:?usage: install.sh VENV_DIR SOURCE_DIR}
src=${2:?usage: install.sh VENV_DIR SOURCE_DIR}
EXTRAS=${EXTRAS-openvino}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}
TORCH_PACKAGES=${TORCH_PACKAGES:-torch>=2.6,<2.15 torchvision>=0.21,<0.30}
TORCH_CPU_ONLY=${TORCH_CPU_ONLY:-1}
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

python3 -m venv "$venv"
pip="$venv/bin/python -m pip"

# 1. CPU-only torch and torchvision first, from their own index, so that step 2 finds them installed and never
#    pulls PyPI's CUDA build. Word splitting of TORCH_PACKAGES is intended (one requirement per word).
# shellcheck disable=SC2086
$pip install --index-url "$TORCH_INDEX_URL" $TORCH_PACKAGES

# 2. dlcompress itself with the chosen extras (not editable: the source folder is not needed afterwards).
$pip install "$src${EXTRAS:+[$EXTRAS]}"

# 3. the installed set must be consistent, torch a CPU build (unless TORCH_CPU_ONLY=0), and torchvision's compiled
#    ops must load against that torch: PyPI's torchvision is linked to CUDA torch, and with a CPU torch its import
#    fails ("operator torchvision::nms does not exist") though `dlcompress --help` still works.
$pip check
TORCH_CPU_ONLY=$TORCH_CPU_ONLY "$venv/bin/python" -c '
import os, sys, torch
print("torch", torch.__version__, "cuda", torch.version.cuda)
if torch.version.cuda and os.environ["TORCH_CPU_ONLY"] == "1":
    sys.exit("install.sh: torch is a CUDA build; set TORCH_INDEX_URL to a CPU index (or TORCH_CPU_ONLY=0)")
import torchvision
boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
torchvision.ops.nms(boxes, torch.tensor([1.0, 0.5]), 0.5)
print("torchvision", torchvision.__version__, "ops ok")
'
