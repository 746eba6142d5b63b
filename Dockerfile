# Build stage: compiles better-sqlite3 from source and the TypeScript sources.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY service ./service
COPY collector ./collector
COPY reporting ./reporting
COPY bench ./bench
COPY migrations ./migrations
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

# Runtime stage: only what runs, as an unprivileged user, with the database on a volume.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    DATABASE_URL=/data/tokentally.db \
    COLLECTOR_PORT=4318 \
    REPORTING_PORT=4320 \
    GRPC_PORT=4317
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/src/pricing/prices.json ./src/pricing/prices.json
COPY --from=build /app/collector/otlp/proto ./collector/otlp/proto
# The dashboard page's own files; its charting library (uplot) is in node_modules. Nothing is fetched
# from a CDN, so the page works offline.
COPY --from=build /app/reporting/dashboard/public ./reporting/dashboard/public
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4317 4318 4320
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "Promise.all([process.env.COLLECTOR_PORT, process.env.REPORTING_PORT].map((p) => fetch('http://127.0.0.1:' + p + '/healthz').then((r) => { if (!r.ok) throw r.status; }))).then(() => process.exit(0), () => process.exit(1))"
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/service/cli.js"]
CMD ["serve"]
