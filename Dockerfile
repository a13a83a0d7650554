# Build stage: compile wheels where build tools are available.
FROM python:3.11-slim AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md requirements.lock ./
# The pinned, hashed dependencies first (a layer that changes only with the lock).
RUN pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements.lock
COPY bot ./bot
COPY cogs ./cogs
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Final stage: only the wheels, no compilers, running as an unprivileged user.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 10001 balint
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --no-deps /wheels/* && rm -rf /wheels
USER balint
WORKDIR /home/balint
# The bot rewrites this file as its gateway connection comes and goes (every 30 s at
# least); `balint-bot health` fails when it says "disconnected" or is over 90 s old.
ENV HEARTBEAT_FILE=/tmp/balint-heartbeat.json
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["balint-bot", "health"]
# `balint-bot run` applies pending migrations, then starts the bot; it handles
# SIGTERM by closing the gateway connection and the database cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["balint-bot"]
CMD ["run"]
