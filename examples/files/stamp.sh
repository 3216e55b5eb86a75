#!/bin/sh
# Records when and from what this image was built.
set -e
mkdir -p "$IMAGE_ROOT/etc/aibtrigger"
date -u +%Y-%m-%dT%H:%M:%SZ > "$IMAGE_ROOT/etc/aibtrigger/built-at"
echo "stamped image at $(cat "$IMAGE_ROOT/etc/aibtrigger/built-at")"
