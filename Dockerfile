# syntax=docker/dockerfile:1
# Container image of anthropic-work-exporter.
#
#   docker build -t anthropic-work-exporter:dev \
#     --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --rm -p 9781:9781 anthropic-work-exporter:dev demo --web.listen-address :9781
#
# Why this shape (deploy/README.md has more):
# - Builder: the official Rust image on Debian 12 (bookworm), pinned to the
#   toolchain CI uses. The binary links only glibc and libgcc_s dynamically
#   (tests/e2e/deploy.py checks both against Debian 12's glibc).
# - Runtime: distroless cc-debian12, which is exactly glibc + libgcc of the
#   same Debian release: no shell, no package manager, a non-root user. A fully
#   static musl build on scratch would save about 20 MB but needs the musl
#   target added to the toolchain at build time and swaps glibc's allocator for
#   musl's, which is markedly slower under a multi-threaded tokio server.
# - TLS: reqwest with rustls and webpki-roots, so the CA roots are compiled
#   into the binary and the image needs no CA bundle (distroless has one anyway).
# - No curl in the image: HEALTHCHECK runs the binary's own `healthcheck`
#   subcommand, which asks 127.0.0.1:9781/-/healthy.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# Becomes the `revision` label of anthropic_work_exporter_build_info.
ARG REVISION=unknown
COPY . .
# Cache mounts keep the registry and the target directory between builds, so
# a source change rebuilds only this crate. The binary is copied out of the
# cached target directory in the same step. Debug info is stripped here (the
# release profile keeps it for profiling); symbol names stay for backtraces.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    WORK_EXPORTER_REVISION="${REVISION}" \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo build --release --locked --bin anthropic-work-exporter \
    && install -D -m 0755 target/release/anthropic-work-exporter /out/anthropic-work-exporter

FROM gcr.io/distroless/cc-debian12:nonroot
# Keep VERSION equal to Cargo.toml's version (tests/e2e/deploy.py checks it).
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="anthropic-work-exporter" \
      org.opencontainers.image.description="Prometheus exporter for the work queues of self-hosted Claude Managed Agents environments" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/anthropic-work-exporter/anthropic-work-exporter" \
      org.opencontainers.image.url="https://github.com/anthropic-work-exporter/anthropic-work-exporter" \
      org.opencontainers.image.documentation="https://github.com/anthropic-work-exporter/anthropic-work-exporter/blob/main/deploy/README.md" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /out/anthropic-work-exporter /anthropic-work-exporter
# Numeric, so that Kubernetes' runAsNonRoot can verify it (distroless's
# "nonroot" user is uid/gid 65532).
USER 65532:65532
EXPOSE 9781
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/anthropic-work-exporter", "healthcheck"]
# No CMD: with no arguments the binary serves (`serve` is the default), and
# `docker run IMAGE --config.file ...` passes flags straight to it.
ENTRYPOINT ["/anthropic-work-exporter"]
