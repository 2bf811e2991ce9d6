# dlcompress on CPU: `docker build -t dlcompress .` then
#   docker run --rm -v "$PWD":/data -w /data dlcompress quantize --model resnet50
# Build arguments (docs/docker.md):
#   BASE_IMAGE       a Python 3.10+ image with python3 -m venv (default python:3.11-slim; for a build without
#                    Docker Hub, docker/make-offline-base.sh makes one from Debian's packages)
#   EXTRAS           dlcompress extras from pyproject.toml, comma-separated: openvino (default), litert, tensorflow,
#                    all, ... or "" for the core only
#   TORCH_INDEX_URL  where torch/torchvision come from (default PyTorch's CPU-only wheels)
#   TORCH_PACKAGES   which torch/torchvision to install from it (default the range pyproject.toml allows)
#   TORCH_CPU_ONLY   1 (default): the build fails if torch turns out a CUDA build; 0 allows one
#   PIP_FIND_LINKS, PIP_TRUSTED_HOST  extra wheel locations for pip (empty by default; only the build stage sees them)
ARG BASE_IMAGE=python:3.11-slim

# ---- build stage: a virtual environment in /opt/venv, made by docker/install.sh ------------------------------------
FROM ${BASE_IMAGE} AS build
ARG EXTRAS=openvino
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_PACKAGES="torch>=2.6,<2.15 torchvision>=0.21,<0.30"
ARG TORCH_CPU_ONLY=1
ARG PIP_FIND_LINKS=""
ARG PIP_TRUSTED_HOST=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md /src/
COPY dlcompress /src/dlcompress
COPY docker/install.sh /src/docker/install.sh
RUN sh /src/docker/install.sh /opt/venv /src

# ---- runtime stage: the base image, the virtual environment and a non-root user; no source, no pip cache -----------
FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 1000 --user-group --shell /bin/sh dlcompress \
    && mkdir /data \
    && chown dlcompress:dlcompress /data
# MPLCONFIGDIR: matplotlib needs a writable config folder also under `docker run --user UID:GID` (no home there)
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
# by number (uid/gid 1000 = dlcompress), so that Kubernetes' runAsNonRoot can verify it
USER 1000:1000
WORKDIR /data
ENTRYPOINT ["dlcompress"]
CMD ["--help"]
