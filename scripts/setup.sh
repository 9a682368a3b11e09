#!/usr/bin/env bash
# Create ./.venv and install gureum with the embedded chat model and the test tools.
# The first install compiles llama.cpp for the local chat model (about 10 minutes on 2 cores);
# pip caches the build, so later installs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
stamp=.venv/.gureum-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "gureum: installing into .venv (first time: llama.cpp compiles for ~10 minutes)…"
  .venv/bin/python -m pip install --quiet -e '.[local,test]'
  touch "$stamp"
fi
