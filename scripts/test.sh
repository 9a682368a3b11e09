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
exec .venv/bin/python -m pytest "$@"
