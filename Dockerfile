# syntax=docker/dockerfile:1
# Multi-stage: build a wheel in a builder, copy only the installed venv into a slim runtime that
# runs as a non-root user (never UID 1337, which the Istio proxy uses).
#
# The wheel is the compiled build (STSMESH_COMPILE=1, see setup.py): mypyc compiles the pure core
# to C extensions, which makes review() about 40 % faster. The compiler and its tools stay in the
# builder; the runtime gets the wheel and its dependencies only.
#
# Pinned: both base images by digest (python:3.11.15-bookworm and -slim-bookworm, as
# docker-library/repo-info records them), every Python package by constraints.txt.
FROM python:3.11.15-bookworm@sha256:bf8254c2785186ab1d2fbb231326aecc4c2286a260e49822142793ebea75bc61 AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md constraints.txt ./
COPY webhook ./webhook
ENV STSMESH_COMPILE=1
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir -c constraints.txt --upgrade pip \
 && /opt/build/bin/pip install --no-cache-dir -c constraints.txt --upgrade setuptools wheel mypy orjson types-PyYAML \
 && /opt/build/bin/pip wheel --no-cache-dir --no-build-isolation --no-deps --wheel-dir /wheels .
RUN python -m venv /opt/stsmesh \
 && /opt/stsmesh/bin/pip install --no-cache-dir -c constraints.txt --upgrade pip \
 && /opt/stsmesh/bin/pip install --no-cache-dir -c constraints.txt /wheels/stsmesh-*.whl

FROM python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3
RUN groupadd --gid 10001 stsmesh && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin stsmesh
COPY --from=build /opt/stsmesh /opt/stsmesh
ENV PATH=/opt/stsmesh/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8443
ENTRYPOINT ["stsmesh", "serve"]
