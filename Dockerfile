# Palisade: multi-stage build of one self-contained binary (templates and CSS are compiled in;
# SQLite and libpq are linked statically; only OpenSSL is a shared library).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p palisade && strip target/release/palisade

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/palisade --create-home palisade
COPY --from=build /src/target/release/palisade /usr/local/bin/palisade
USER palisade
WORKDIR /var/lib/palisade
ENV PALISADE_DATA_DIR=/var/lib/palisade \
    PALISADE_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/palisade"]
CMD ["serve"]
