# syntax=docker/dockerfile:1
#
# One image per .NET service, chosen at build time:
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE_ASSEMBLY=Mislata.Api -t mislata/api:0.1.0 .
# SERVICE_ASSEMBLY is Mislata.Identity, Mislata.Api or Mislata.Worker (project src/<name>/<name>.csproj,
# published as /app/<name>.dll). The build context is the repository root (see /.dockerignore).

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
ARG SERVICE_ASSEMBLY
ENV DOTNET_NOLOGO=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
WORKDIR /source

RUN case "${SERVICE_ASSEMBLY:-}" in \
      Mislata.Identity|Mislata.Api|Mislata.Worker) ;; \
      *) echo "SERVICE_ASSEMBLY must be Mislata.Identity, Mislata.Api or Mislata.Worker (got '${SERVICE_ASSEMBLY:-}')" >&2; exit 1 ;; \
    esac

# Build settings first: they decide the package versions (central package management) and the analyzers.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/ src/

# The NuGet cache survives between builds (BuildKit cache mount); restore and publish are separate steps so a
# failing restore is told apart from a failing compile.
RUN --mount=type=cache,id=mislata-nuget,target=/root/.nuget/packages \
    dotnet restore "src/${SERVICE_ASSEMBLY}/${SERVICE_ASSEMBLY}.csproj"
RUN --mount=type=cache,id=mislata-nuget,target=/root/.nuget/packages \
    dotnet publish "src/${SERVICE_ASSEMBLY}/${SERVICE_ASSEMBLY}.csproj" \
      --configuration Release --no-restore --output /app -p:UseAppHost=false \
 && test -f "/app/${SERVICE_ASSEMBLY}.dll"

FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS runtime
ARG SERVICE_ASSEMBLY
LABEL org.opencontainers.image.title="${SERVICE_ASSEMBLY}" \
      org.opencontainers.image.description="Mislata post-quantum Encryption-as-a-Service: ${SERVICE_ASSEMBLY}"

# Nothing is written under /app at run time: the root file system can be read-only (compose `read_only: true`,
# Kubernetes `readOnlyRootFilesystem`) with a writable /tmp. Data Protection keys live in Redis.
ENV MISLATA_SERVICE_DLL=/app/${SERVICE_ASSEMBLY}.dll \
    ASPNETCORE_ENVIRONMENT=Production \
    DOTNET_ENVIRONMENT=Production \
    DOTNET_NOLOGO=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_gcServer=1
WORKDIR /app
# Owned by root and not writable by the service user.
COPY --from=build --chown=root:root /app/ /app/

# The aspnet image ships the unprivileged user `app` (uid/gid in $APP_UID, 1654).
USER $APP_UID

# `dotnet <service>.dll healthcheck` asks the running process for /health/live on ASPNETCORE_HTTP_PORTS
# (the image has no curl). The `sh -c … exec` form lets one image serve three assemblies and still makes
# dotnet PID 1, so it receives SIGTERM directly.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/bin/sh", "-c", "exec dotnet \"$MISLATA_SERVICE_DLL\" healthcheck"]
ENTRYPOINT ["/bin/sh", "-c", "exec dotnet \"$MISLATA_SERVICE_DLL\" \"$@\"", "mislata"]
