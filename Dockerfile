# Build stage: the release binary.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# The mooring-proto crate: flintlock's .proto files and the build that compiles them.
COPY proto ./proto
COPY src ./src
COPY benches ./benches
# A workspace member (the test emulators): cargo reads its manifest even when
# only the mooring binary is built.
COPY emulators ./emulators
RUN cargo build --release --locked --bin mooring

# Runtime stage: slim, non-root (uid and gid 10001, as
# deploy/kubernetes/deployment.yaml runs it), CA certificates for https Git
# remotes. /var/cache/mooring is the clone cache `mooring run --cache-dir`
# uses in the deployment (an emptyDir there, so the root fs can be read-only).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mooring \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/mooring mooring \
 && install -d -o 10001 -g 10001 /var/cache/mooring
COPY --from=build /src/target/release/mooring /usr/local/bin/mooring
COPY schemas /usr/share/mooring/schemas
COPY policies /usr/share/mooring/policies
USER 10001:10001
WORKDIR /work
# /metrics, /healthz, /readyz, /api/v1/status of `mooring run`.
EXPOSE 9464
ENTRYPOINT ["mooring"]
CMD ["--help"]
