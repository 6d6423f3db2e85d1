# syntax=docker/dockerfile:1
# PaieCashFan server: a release build in a Rust image, run from a slim
# Debian image as an unprivileged user. Build: docker build -t paiecashfan .

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so a change to the sources does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src bench \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && for b in ticket_drop wallet_transfers ws_fanout ai_recs rss_load reads bare_axum; do echo 'fn main() {}' > bench/$b.rs; done \
    && cargo build --release --locked \
    && rm -rf src bench
COPY src src
COPY migrations migrations
COPY web web
COPY clients/js/src/index.js clients/js/src/index.js
COPY bench bench
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin paiecashfan

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/paiecashfan --create-home paiecashfan
COPY --from=build /src/target/release/paiecashfan /usr/local/bin/paiecashfan
USER paiecashfan
WORKDIR /var/lib/paiecashfan
ENV HOST=0.0.0.0 \
    PORT=3000 \
    APP_ENV=production \
    LOG_FORMAT=json
EXPOSE 3000
# The binary asks itself (no curl in the image).
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
    CMD ["paiecashfan", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["paiecashfan"]
CMD ["serve"]
