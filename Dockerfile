# syntax=docker/dockerfile:1
# Multi-stage: build a wheel and its dependencies in a builder, copy only the installed venv into
# a slim runtime that runs as a non-root user (never UID 1337, which the Istio proxy uses).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY webhook ./webhook
RUN python -m venv /opt/stsmesh \
 && /opt/stsmesh/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/stsmesh/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN groupadd --gid 10001 stsmesh && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin stsmesh
COPY --from=build /opt/stsmesh /opt/stsmesh
ENV PATH=/opt/stsmesh/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8443
ENTRYPOINT ["stsmesh", "serve"]
