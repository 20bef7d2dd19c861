#!/usr/bin/env bash
# Builds the Debian package of failoverd: target/debian/failoverd_<version>-1_<arch>.deb
# (under $CARGO_TARGET_DIR if set). Prints the path of the .deb on its last line.
#   1. cargo build --release -p failover-runtime --bin failoverd
#   2. failoverd generate-assets: man pages (clap_mangen) and bash/zsh/fish completions
#      (clap_complete) from the CLI definition, into <target>/release/failoverd-assets
#   3. cargo deb --no-build (metadata: [package.metadata.deb] in runtime/Cargo.toml)
# Installs cargo-deb (pinned) with `cargo install --locked` when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DEB_VERSION=3.8.0
target="${CARGO_TARGET_DIR:-$PWD/target}"

if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
    echo "build-deb: installing cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --locked --version "=$CARGO_DEB_VERSION"
fi

cargo build --release -p failover-runtime --bin failoverd
assets="$target/release/failoverd-assets"
rm -rf "$assets"
"$target/release/failoverd" generate-assets "$assets" >/dev/null
gzip -9n "$assets"/man/*.1
echo "build-deb: man pages: $(cd "$assets/man" && echo *)"
echo "build-deb: completions: $(cd "$assets/completions" && echo *)"

# cargo deb prints the path of the package it wrote.
# --strip: the release profile keeps debug info (debug = 1) for profiling; the package does not.
deb=$(cargo deb -p failover-runtime --no-build --strip | tail -1)
[ -f "$deb" ] || { echo "build-deb: cargo deb did not write a package ($deb)" >&2; exit 1; }
echo "$deb"
