# syntax=docker/dockerfile:1
#
# The Mislata gateway: the official nginx image (stable line, Debian) with the one template the whole project
# uses (deploy/nginx/nginx.conf.template + health.js), rendered at start by gateway-entrypoint.sh.
#   docker build -f deploy/docker/gateway.Dockerfile -t mislata/gateway:0.1.0 .
# The build context is the repository root (see /.dockerignore).

ARG NGINX_VERSION=1.30
ARG NODE_VERSION=20.20

# The web console (src/Mislata.Console): built from the committed lock file, served as static files at /console/.
FROM node:${NODE_VERSION}-bookworm-slim AS console
WORKDIR /src
COPY src/Mislata.Console/package.json src/Mislata.Console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY src/Mislata.Console/ ./
RUN npm run build

FROM nginx:${NGINX_VERSION}-trixie

# The Debian variant carries what the entry point needs: envsubst (gettext-base), the njs module, curl for the
# health check, and the openssl command (a dependency of ca-certificates) for the self-signed certificate.
# Fail the build here rather than at the first start if an upstream image ever drops one of them.
RUN set -eu; \
    command -v envsubst; command -v openssl; command -v curl; \
    test -f /usr/lib/nginx/modules/ngx_http_js_module.so; \
    mkdir -p /etc/mislata/gateway /etc/mislata/tls /tmp/mislata-gateway; \
    chown nginx:nginx /etc/mislata/tls /tmp/mislata-gateway; \
    chmod 0750 /etc/mislata/tls

COPY deploy/nginx/nginx.conf.template deploy/nginx/health.js /etc/mislata/gateway/
COPY --from=console /src/dist /etc/mislata/gateway/www/console
COPY --chmod=0755 deploy/docker/gateway-entrypoint.sh /usr/local/bin/gateway-entrypoint.sh

# Inside the container nginx listens on unprivileged ports and runs as the image's `nginx` user (uid 101);
# compose/Kubernetes map 80→8080 and 443→8443. Temp files, the pid file and the rendered nginx.conf live
# under NGINX_RUN_DIR (a tmpfs when the root file system is read-only); logs go to stdout/stderr through
# the image's /var/log/nginx symlinks.
ENV NGINX_JS_MODULE=/usr/lib/nginx/modules/ngx_http_js_module.so \
    NGINX_WORKER_PROCESSES=auto \
    NGINX_RUN_DIR=/tmp/mislata-gateway \
    NGINX_LOG_DIR=/var/log/nginx \
    NGINX_CONF_DIR=/etc/mislata/gateway \
    GATEWAY_HTTP_PORT=8080 \
    GATEWAY_HTTPS_PORT=8443 \
    GATEWAY_PUBLIC_HTTPS_PORT=443 \
    TLS_CERT=/etc/mislata/tls/tls.crt \
    TLS_KEY=/etc/mislata/tls/tls.key

USER nginx
EXPOSE 8080 8443
STOPSIGNAL SIGQUIT

# The gateway's own liveness (plain HTTP, no upstream involved); /health is the aggregate of the services.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${GATEWAY_HTTP_PORT}/health/live" || exit 1

ENTRYPOINT ["/usr/local/bin/gateway-entrypoint.sh"]
