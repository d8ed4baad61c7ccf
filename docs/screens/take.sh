#!/usr/bin/env bash
# Retakes the screenshots in this folder: the real window at 1600×1000 and
# 1280×720 on demo projects, driven by its controls' names (examples/screens.rs).
# Needs a wgpu adapter; Mesa's llvmpipe (apt-get install mesa-vulkan-drivers) will do.
# Usage: docs/screens/take.sh [rop|thyroid|volumes|brain-tumour|lung|training …]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/loupe-target}"
cargo run --locked --example screens -- docs/screens "$@"
