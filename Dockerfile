FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cowry
COPY --from=build /src/target/release/cowry /usr/local/bin/cowry
# Never root: the server needs no privilege (it binds a high port and writes nothing to disk).
USER cowry
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${COWRY_PORT:-8080}/healthz" >/dev/null || exit 1
ENTRYPOINT ["cowry"]
CMD ["serve"]
