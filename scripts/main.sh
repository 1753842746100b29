#!/usr/bin/env bash
# Set-up (idempotent), then the main job: a short VAE training on MNIST and its HTML report.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
research() { dotnet run --project Experiments.CSharp -c Release --no-build -- "$@"; }
research mlp
