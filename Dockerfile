# sluice container image.
#
#   docker build -t sluice:0.1.0 .
#   docker run --rm -p 8080:8080 -v "$PWD/my.yaml:/etc/sluice/sluice.yaml:ro" sluice:0.1.0
#
# Two stages, both Debian bookworm:
#   build    installs the build dependencies and compiles with the very scripts
#            the README and CI use (deploy/scripts/install-deps.sh, build.sh);
#   runtime  bookworm-slim plus only the shared libraries `ldd sluice` lists.
# tests/deploy/test_dockerfile.py checks this file against the real binary:
# every library ldd reports must come from a package installed below.
#
# The Helm chart's preStop hook talks to the admin port with bash's /dev/tcp
# (bash and coreutils are in bookworm-slim's base set), so no curl is needed
# here.

ARG DEBIAN_RELEASE=bookworm

FROM debian:${DEBIAN_RELEASE} AS build
WORKDIR /src
# Dependencies first, in their own layer: it is only rebuilt when the list changes.
COPY deploy/scripts/install-deps.sh deploy/scripts/install-deps.sh
RUN bash deploy/scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN bash deploy/scripts/build.sh build -DSLUICE_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
 && strip --strip-unneeded build/proxy/sluice \
 && build/proxy/sluice version

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="TCP/HTTP reverse proxy and Kubernetes sidecar connection manager" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

# Runtime libraries only: one package per shared library that ldd reports.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libc6 \
      libgcc-s1 \
      libstdc++6 \
      libevent-2.1-7 \
      libevent-core-2.1-7 \
      libevent-pthreads-2.1-7 \
      libevent-extra-2.1-7 \
      libyaml-cpp0.7 \
      libprometheus-cpp-core1.0 \
      libhttp-parser2.9 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin sluice

COPY --from=build /src/build/proxy/sluice /usr/local/bin/sluice
COPY config/sluice.yaml /etc/sluice/sluice.yaml

# Fail the image build, not the first pod, when a library is missing or the
# shipped config does not validate.
RUN if ldd /usr/local/bin/sluice | grep -q 'not found'; then \
      ldd /usr/local/bin/sluice; exit 1; \
    fi \
 && sluice version \
 && sluice check -c /etc/sluice/sluice.yaml

# A numeric user, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
# 8080: the default listener; 9901: the admin port (/live /ready /metrics ...).
EXPOSE 8080 9901
# SIGTERM drains, then exits 0 (DESIGN.md "Drain").
STOPSIGNAL SIGTERM
ENTRYPOINT ["sluice"]
CMD ["run", "-c", "/etc/sluice/sluice.yaml"]
