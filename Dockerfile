# agent-mesh-registry image: build with dev dependencies, ship only production dependencies.
#   docker build -t agent-mesh-registry:latest .
# Debian slim rather than alpine: glibc keeps optional native addons (msgpackr-extract, used
# by bullmq) on their prebuilt binaries instead of silently falling back to pure JS.
# --build-arg NODE_IMAGE=<mirror>/node:20-bookworm-slim for registries behind a mirror.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript, copy the Lua scripts next to the compiled loader, and bundle the
# operator console (ui/ -> dist/ui, served at /ui) ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first so the dependency layer is cached until package*.json change. The root is an
# npm workspace (sdk/, examples/, tools/lint/): npm ci needs their manifests too.
COPY package.json package-lock.json ./
COPY sdk/package.json ./sdk/package.json
COPY examples/package.json ./examples/package.json
COPY tools/lint/package.json ./tools/lint/package.json
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/copy-lua.mjs scripts/build-ui.mjs ./scripts/
COPY src ./src
COPY ui ./ui
# The server and the console (npm run build also builds the SDK, which the image does not ship).
RUN npm run build:server && npm run build:ui

# ---- deps: production dependencies only (no TypeScript, vitest, testcontainers...) ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk/package.json ./sdk/package.json
COPY examples/package.json ./examples/package.json
COPY tools/lint/package.json ./tools/lint/package.json
# --workspaces=false: the server's production dependencies only, not the SDK's.
RUN npm ci --omit=dev --no-audit --no-fund --workspaces=false && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production PORT=8080
WORKDIR /app
# Files stay owned by root and are only readable by the runtime user: the process cannot
# rewrite its own code, and the image also runs with a read-only root filesystem (k8s).
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The official node images ship user "node" (uid/gid 1000); k8s pins runAsUser 1000 to match.
USER node
EXPOSE 8080
# Slim images have no curl/wget: probe with node's built-in fetch. /livez only says the
# process is alive; readiness (Redis reachable) is the orchestrator's job (/readyz).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/livez',{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM starts the graceful shutdown; node runs as PID 1 directly (exec form, no shell),
# so the signal reaches it.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
