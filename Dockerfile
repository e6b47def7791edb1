# Chamberlain service image (multi-stage, non-root).
# Untested on the machines this project is developed on (no Docker engine runs there).
#   docker build -t chamberlain .
#   docker run --rm -e ANTHROPIC_API_KEY -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET \
#     -v chamberlain-data:/data -p 3000:3000 chamberlain
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# Point pip at a CPU-only torch index with --build-arg TORCH_INDEX_URL=... to keep the image small.
ARG TORCH_INDEX_URL=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install uv \
 && if [ -n "$TORCH_INDEX_URL" ]; then pip install torch==2.13.0 --index-url "$TORCH_INDEX_URL"; \
    else pip install torch==2.13.0; fi
COPY pyproject.toml requirements.lock README.md ./
RUN uv pip install --python /opt/venv/bin/python --compile-bytecode -r requirements.lock
COPY agent ./agent
COPY tools ./tools
COPY connectors ./connectors
COPY policies ./policies
COPY evals ./evals
RUN uv pip install --python /opt/venv/bin/python --compile-bytecode --no-deps .

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 chamberlain && mkdir /data && chown chamberlain /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    CHAMBERLAIN_DATA_DIR=/data
USER chamberlain
WORKDIR /home/chamberlain
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz')"
CMD ["chamberlain", "slack", "serve", "--host", "0.0.0.0", "--port", "3000"]
