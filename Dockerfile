# syntax=docker/dockerfile:1
#
# switchyard: one static-ish binary (glibc) on distroless. Build with BuildKit:
#   docker build -t ghcr.io/switchyard-dev/switchyard:0.1.0 .
# The same image runs both containers of the Helm chart (`switchyard gateway` and
# `switchyard controller`). Not built in this repository's CI: the development machines
# have no Docker.

# Build stage. 1.89 is the crate's rust-version (Cargo.toml), the MSRV of its locked
# dependencies too. rusqlite (bundled SQLite) and aws-lc-sys compile C with the image's
# gcc; aws-lc-sys needs no cmake on x86_64/aarch64 Linux.
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin switchyard \
    && install -D -m 0755 target/release/switchyard /out/switchyard

# Runtime stage: glibc, libgcc and CA certificates only; no shell. UID 65532 "nonroot".
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/switchyard /usr/local/bin/switchyard
USER 65532:65532
EXPOSE 8080 9091
ENTRYPOINT ["/usr/local/bin/switchyard"]
CMD ["--help"]
