# syntax=docker/dockerfile:1
# capillary-bridge on Debian 12 (bookworm): the Debian packages the build uses (tools/setup.sh) in
# the build stage, only their runtime shared libraries in the images. Two images from one build:
#
#   docker build -t capillary-bridge:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse --short HEAD)" \
#     --build-arg SOURCE=https://example.org/your/capillary-bridge .
#   docker build --target platform-emulator -t capillary-bridge-emulator:0.1.0 ... .
#
# The default target (the last stage) is production: capillary-bridge only. The platform-emulator
# (a token-issuing stand-in for IMS and Platform, port 8088) is its own image, for tests and the
# compose stack, so production pods never carry it.
# Both run as uid/gid 10001 and write nothing outside /tmp, so they work with a read-only root
# filesystem (mount a tmpfs on /tmp only if you use `capillary-bridge dev` or the file sink there).
# tools/build-image.sh builds both without a registry (podman, mmdebstrap bases) and runs them.
# Release pipelines should pin both base images by digest (debian:bookworm-slim@sha256:...).
# tools/check-container.sh lints this file (hadolint) and checks the runtime package list against
# the binaries' shared libraries.

FROM debian:bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The build half of tools/setup.sh's list (no tests, benches, fuzzers, linters or Kafka broker).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates curl \
      libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev \
      libsimdjson-dev libyaml-cpp-dev prometheus-cpp-dev libcivetweb-dev \
      libmicrohttpd-dev libcurl4-openssl-dev libspdlog-dev libfmt-dev libcli11-dev \
      libexpected-dev rapidjson-dev nlohmann-json3-dev libvalijson-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# librdkafka from its pinned, checksummed release (tools/librdkafka/build.sh; needs the network,
# `--network host` with podman), in a layer of its own so that source changes do not rebuild it.
ENV BRIDGE_CACHE_DIR=/opt/cache
COPY tools/librdkafka/build.sh tools/librdkafka/build.sh
# Behind a TLS-inspecting proxy, the CA bundle that trusts it: a file mounted into RUN steps
# (tools/build-image.sh: podman build -v <host bundle>:/run/host-ca.crt:ro --build-arg
# CA_BUNDLE=/run/host-ca.crt). Empty: the build stage's own ca-certificates.
ARG CA_BUNDLE=""
RUN CURL_CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}" tools/librdkafka/build.sh \
 && install -D -m 0644 -s "$(tools/librdkafka/build.sh --prefix-only)/lib/librdkafka.so.1" \
      /out/lib/librdkafka.so.1
COPY . .
# The build context has no .git: the revision in capillary_bridge_build_info comes from REVISION.
ARG REVISION=unknown
# Compile jobs (the preset's 2 suit the 2-core reference machine).
ARG JOBS=2
RUN cmake --preset default -DBRIDGE_BUILD_TESTS=OFF -DBRIDGE_BUILD_BENCH=OFF \
      -DBRIDGE_GIT_REVISION="${REVISION}" \
 && cmake --build --preset default -j "${JOBS}" --target capillary-bridge platform-emulator \
 && install -D -m 0755 -s build/default/bridge/capillary-bridge /out/capillary-bridge \
 && install -D -m 0755 -s build/default/bridge/emulator/platform-emulator /out/platform-emulator

# ---------------------------------------------------------------------------------------------
# What both images share: Debian slim, the unprivileged user, the working directory and the
# labels that do not name the image.
FROM debian:bookworm-slim AS runtime
RUN groupadd --system --gid 10001 bridge \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin bridge
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=""
# (Each image below sets its own title and description.)
LABEL org.opencontainers.image.title="capillary-bridge-runtime" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
# Relative paths (`dev`'s NDJSON output, a relative file sink, the emulator's --port-file) land in
# /tmp.
WORKDIR /tmp
STOPSIGNAL SIGTERM

# ---------------------------------------------------------------------------------------------
# platform-emulator: Adobe IMS and Platform streaming ingestion stand-in (bridge/emulator).
FROM runtime AS platform-emulator
# Exactly the packages owning the emulator's DT_NEEDED libraries (tools/check-container.sh), plus
# curl for the HEALTHCHECK and the control API. `apt-get clean`: a base without Docker Hub's
# docker-clean hook (mmdebstrap's) would keep the downloaded packages (80 MB).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      curl libc6 libfmt9 libgcc-s1 libmicrohttpd12 libsimdjson14 libspdlog1.10 libstdc++6 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/platform-emulator /usr/local/bin/
LABEL org.opencontainers.image.title="capillary-bridge-emulator" \
      org.opencontainers.image.description="platform-emulator: a local stand-in for Adobe IMS and Platform streaming ingestion, with fault injection (tests and demos only)"
USER 10001:10001
EXPOSE 8088
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=5 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8088/healthz"]
ENTRYPOINT ["platform-emulator"]
CMD ["--listen", "0.0.0.0:8088"]

# ---------------------------------------------------------------------------------------------
# capillary-bridge (the default target): production.
FROM runtime AS bridge
# Exactly the packages owning the binary's DT_NEEDED libraries, librdkafka's own included
# (tools/check-container.sh derives them with readelf + dpkg -S and compares), plus
# ca-certificates for TLS to IMS, Platform and Kafka, and curl for the HEALTHCHECK (~0.5 MB:
# libcurl4 is here anyway). libmicrohttpd12 serves the webhook receiver (`receive`).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl \
      libc6 libcivetweb1 libcurl4 libfmt9 libgcc-s1 libmicrohttpd12 libprometheus-cpp-core1.0 \
      liblz4-1 libsasl2-2 libsimdjson14 libspdlog1.10 libssl3 libstdc++6 libyaml-cpp0.7 \
      libzstd1 zlib1g \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/capillary-bridge /usr/local/bin/
COPY --from=build /out/lib/librdkafka.so.1 /usr/local/lib/
RUN ldconfig
# The documented example as the default config: a bare `docker run` fails validation with every
# missing setting listed; mount your own file over it (or another directory on /etc/capillary-bridge).
COPY config/bridge.example.yaml /etc/capillary-bridge/bridge.yaml
COPY config/samples/ /usr/share/capillary-bridge/samples/
LABEL org.opencontainers.image.title="capillary-bridge" \
      org.opencontainers.image.description="Capillary loyalty and commerce events from Kafka into Adobe Experience Platform streaming ingestion"
USER 10001:10001
# 9464 metrics and probes, 8080 the webhook receiver (`receive`).
EXPOSE 9464 8080
# /healthz on the default metrics.listen port; Kubernetes probes and docker-compose set their own.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["capillary-bridge"]
CMD ["run", "-c", "/etc/capillary-bridge/bridge.yaml"]
