# syntax=docker/dockerfile:1
# Build stage: a wheel of the bridge and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bridge ./bridge
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Final stage: no compilers, no pip cache, a non-root user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SMSBRIDGE_SCHEMAS_DIR=/app/schemas
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin smsbridge
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels smsbridge==0.1.0 && rm -rf /wheels
COPY schemas ./schemas
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["smsbridge"]
CMD ["run", "--config", "/etc/smsbridge/config.yaml"]
