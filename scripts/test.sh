#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite against real PostgreSQL (embedded) and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  if ! command -v redis-server >/dev/null; then
    echo "gureum: installing redis-server for the tests (apt-get)"
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  fi
  echo "gureum: starting a local Redis for the tests"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  # the two-replica test puts Debian's nginx in front of two gureum processes
  echo "gureum: installing nginx for the tests (apt-get)"
  apt-get update -qq && apt-get install -y -qq nginx >/dev/null
fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  # the console's end-to-end tests drive Debian's headless chromium (Korean text needs a Hangul font)
  echo "gureum: installing chromium, chromium-driver and fonts-nanum for the tests (apt-get)"
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-nanum >/dev/null
fi
exec .venv/bin/python -m pytest "$@"
