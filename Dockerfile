# Chamberlain service image (multi-stage, non-root, no torch or CUDA, no dev tools).
# No Docker engine runs on the machines this project is developed on; tests/test_dockerfile.py
# builds the image wherever one does.
#   docker build -t chamberlain .
#   docker run --rm -e ANTHROPIC_API_KEY -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET \
#     -v chamberlain-data:/data -p 3000:3000 chamberlain                     # the Slack bot (default)
#   docker run --rm -e CHAMBERLAIN_HTTP_TOKEN -e CHAMBERLAIN_HEALTH_PORT=8080 \
#     -v chamberlain-data:/data -p 8080:8080 chamberlain chamberlain serve --host 0.0.0.0 --port 8080
#   docker run --rm -e CHAMBERLAIN_HEALTH_PORT=8765 -p 8765:8765 chamberlain \
#     chamberlain crm serve --host 0.0.0.0 --port 8765
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# uv goes into the build stage's own Python, not into /opt/venv: the installer stays out of the image.
RUN pip install uv && python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml requirements.lock README.md ./
# Embeddings run on ONNX Runtime: no torch (and no CUDA). The model package declares
# sentence-transformers (and chromadb the Kubernetes client); these overrides drop them, as `make install` does.
COPY .ci/slim-overrides.txt ./.ci/slim-overrides.txt
COPY agent ./agent
COPY tools ./tools
COPY connectors ./connectors
COPY policies ./policies
COPY evals ./evals
# The package's own dependencies only (not the dev extra), at the versions the lock pins; the lock's
# test tools are constraints here, never installed. All bytecode is compiled here (unlike `make
# install`): the service runs as a user who cannot write into /opt/venv.
RUN uv pip install --python /opt/venv/bin/python --compile-bytecode -c requirements.lock --override .ci/slim-overrides.txt . \
 && ! /opt/venv/bin/python -c "import torch" 2>/dev/null

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 chamberlain && mkdir /data && chown chamberlain /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    CHAMBERLAIN_DATA_DIR=/data \
    CHAMBERLAIN_HEALTH_PORT=3000
USER chamberlain
WORKDIR /home/chamberlain
VOLUME ["/data"]
EXPOSE 3000 8080 8765
# Every service (slack serve, serve, crm serve) answers GET /healthz; set CHAMBERLAIN_HEALTH_PORT
# to the port of the one this container runs.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CHAMBERLAIN_HEALTH_PORT', '3000'), timeout=4)"
CMD ["chamberlain", "slack", "serve", "--host", "0.0.0.0", "--port", "3000"]
