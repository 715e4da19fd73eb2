# Build stage: the release binary.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY src ./src
COPY benches ./benches
# A workspace member (the test emulators): cargo reads its manifest even when
# only the mooring binary is built.
COPY emulators ./emulators
RUN cargo build --release --locked --bin mooring

# Runtime stage: slim, non-root, CA certificates for https Git remotes.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/mooring mooring
COPY --from=build /src/target/release/mooring /usr/local/bin/mooring
COPY schemas /usr/share/mooring/schemas
COPY policies /usr/share/mooring/policies
USER 10001
WORKDIR /work
ENTRYPOINT ["mooring"]
CMD ["--help"]
