#!/bin/sh
# Records when and from what this image was built.
set -e
sudo mkdir -p /etc/aibtrigger
date -u +%Y-%m-%dT%H:%M:%SZ | sudo tee /etc/aibtrigger/built-at > /dev/null
grep '^IMAGE_VERSION=' /etc/os-release | sudo tee /etc/aibtrigger/built-from > /dev/null
echo "stamped image at $(cat /etc/aibtrigger/built-at) from $(cat /etc/aibtrigger/built-from)"
