# tokentally's image: `docker build -t tokentally .` (docs/deploy.md). Behind a TLS-intercepting proxy
# or with a private npm registry, pass an .npmrc as a build secret; it is never stored in a layer:
#   docker build --secret id=npmrc,src=$HOME/.npmrc -t tokentally .

# Build stage: the runtime dependencies (better-sqlite3 compiled from source here), then the compiler
# and type packages alone to build dist/. The test, benchmark and browser dev dependencies (hundreds of
# MB) are never installed.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# better-sqlite3 is compiled against Node's headers as the base image ships them: nothing is
# downloaded but the packages (no prebuilt binary, no headers), so a registry mirror is enough.
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=true
WORKDIR /build/app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund \
 && cd node_modules/better-sqlite3 \
 && find build -mindepth 1 -not -path build/Release -not -path build/Release/better_sqlite3.node -delete \
 && rm -rf deps src binding.gyp
# TypeScript and the types it checks against, at the lock file's versions, in /build/node_modules:
# the compiler finds them by looking up from /build/app, and nothing of them reaches the runtime stage.
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc --mount=type=cache,target=/root/.npm \
    cd /build && npm install --no-audit --no-fund --no-save $(node -p "const p = require('./app/package-lock.json').packages; \
      ['typescript', '@types/node', '@types/better-sqlite3', '@types/pg'].map((n) => n + '@' + p['node_modules/' + n].version).join(' ')")
COPY tsconfig.json ./
COPY src ./src
COPY service ./service
COPY collector ./collector
COPY reporting ./reporting
RUN echo '{"extends": "./tsconfig.json", "include": ["src", "collector", "reporting", "service"]}' > tsconfig.image.json \
 && /build/node_modules/.bin/tsc -p tsconfig.image.json

# Runtime stage: only what runs, as the unprivileged user `node` (uid 1000), the database on a volume.
FROM node:20-bookworm-slim
# VERSION is package.json's (the deploy test checks); SOURCE, the repository's address, is given by
# whoever publishes the image (--build-arg SOURCE=...).
ARG VERSION=0.1.0
ARG SOURCE=
LABEL org.opencontainers.image.title="tokentally" \
      org.opencontainers.image.description="A sidecar that collects LLM token usage from agents (OTLP, JSON) and reports spend by project, model, agent and task" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    DATABASE_URL=/data/tokentally.db \
    COLLECTOR_PORT=4318 \
    REPORTING_PORT=4320 \
    GRPC_PORT=4317
WORKDIR /app
COPY --from=build /build/app/package.json ./
COPY --from=build /build/app/node_modules ./node_modules
COPY --from=build /build/app/dist ./dist
COPY migrations ./migrations
COPY src/pricing/prices.json ./src/pricing/prices.json
COPY collector/otlp/proto ./collector/otlp/proto
# The dashboard page's own files; its charting library (uplot) is in node_modules. Nothing is fetched
# from a CDN, so the page works offline.
COPY reporting/dashboard/public ./reporting/dashboard/public
COPY deploy/docker-entrypoint.mjs deploy/healthcheck.mjs ./deploy/
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4317 4318 4320
# Probes the apps that the container's command runs: both for `serve`, one for `collector` or `reporting`.
# The timeout leaves room for a Node.js start on a busy machine (a second or more where the CPU is
# shared), so that load alone never marks a healthy container unhealthy.
HEALTHCHECK --interval=10s --timeout=10s --start-period=10s --retries=3 CMD ["node", "/app/deploy/healthcheck.mjs"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--max-old-space-size=1024", "--max-semi-space-size=8", "--no-memory-reducer", "/app/deploy/docker-entrypoint.mjs"]
CMD ["serve"]
