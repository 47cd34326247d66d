#!/usr/bin/env bash
# Fetches txtai's v3.5.0 test data (tests.tar.gz) and extracts its txtai/*.jpg images into DEST/txtai/
# (default: images/ beside this script), as txtai's near-duplicate image example does. Idempotent: does
# nothing when the images are already there. Needs the internet; nothing in the test suite depends on it.
#
# Usage: bash tests.tar.gz-fetch.sh [DEST]   (TXTAI_TESTS_URL overrides the download address)
set -euo pipefail

URL="${TXTAI_TESTS_URL:-https://github.com/neuml/txtai/releases/download/v3.5.0/tests.tar.gz}"
DEST="${1:-$(cd "$(dirname "$0")" && pwd)/images}"

if compgen -G "$DEST/txtai/*.jpg" > /dev/null; then
    echo "txtai test images already in $DEST/txtai"
    exit 0
fi

mkdir -p "$DEST"
archive="$(mktemp "${TMPDIR:-/tmp}/tests.XXXXXX.tar.gz")"
trap 'rm -f "$archive"' EXIT

if command -v curl > /dev/null; then
    fetch=(curl -fsSL --connect-timeout 20 -o "$archive" "$URL")
else
    fetch=(wget -q --timeout=20 -O "$archive" "$URL")
fi

if ! "${fetch[@]}"; then
    echo "error: could not download $URL (no network?). The tests and the notebook do not need these images:" >&2
    echo "       without them the notebook uses scikit-image's photographs." >&2
    exit 1
fi

tar -xzf "$archive" -C "$DEST" --wildcards 'txtai/*.jpg'
echo "extracted $(ls "$DEST"/txtai/*.jpg | wc -l) images into $DEST/txtai"
