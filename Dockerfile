# eseal node image: build the locked environment, then run as a non-root user.
FROM python:3.11-slim AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-default-groups --no-install-project
COPY keys ./keys
COPY ledger ./ledger
COPY verifier ./verifier
COPY eseal ./eseal
RUN uv sync --frozen --no-default-groups --no-editable

FROM python:3.11-slim
# The CJK font that printed licenses embed, and the one for the rarer characters it lacks.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    fonts-hanazono \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /var/lib/eseal --create-home eseal
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH ESEAL_DATA=/var/lib/eseal PYTHONUNBUFFERED=1
USER eseal
WORKDIR /var/lib/eseal
VOLUME ["/var/lib/eseal"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["eseal"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
