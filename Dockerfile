# eessi-sim as a container: one institution per container (`eessi serve`), or the whole network
# (`eessi up`). Slim, non-root, health-checked. compose.yaml runs the CNS and each mock fund as
# its own service; docs/deployment.md explains a multi-host network.
#
#   docker build -t eessi-sim .
#   docker run --rm -e EESSI_ADMIN_TOKEN=... -p 8701:8701 eessi-sim \
#       serve --institution LU:CNS00001 --host 0.0.0.0 --port 8701

# Build the wheel (schemas and example households inside) in a throw-away stage.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY eessi ./eessi
COPY schemas ./schemas
COPY examples/households ./examples/households
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && groupadd --system --gid 10001 eessi \
    && useradd --system --uid 10001 --gid eessi --home-dir /var/lib/eessi --shell /usr/sbin/nologin eessi \
    && mkdir -p /var/lib/eessi && chown eessi:eessi /var/lib/eessi
# Journals (SQLite files) live here: mount a volume on it.
VOLUME ["/var/lib/eessi"]
WORKDIR /var/lib/eessi
USER eessi:eessi
# Every institution listens on 8701 in its container (AS4 endpoint, admin API, /metrics).
EXPOSE 8701
# Liveness: /api/health/live with the admin token when one is set (docs/operations.md).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "eessi.ops.healthcheck", "http://127.0.0.1:8701/api/health/live"]
# SIGTERM drains in-flight sends for --drain-timeout seconds (default 5), then exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["eessi"]
CMD ["serve", "--institution", "LU:CNS00001", "--host", "0.0.0.0", "--port", "8701"]
