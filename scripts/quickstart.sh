#!/usr/bin/env bash
# Set up and run gureum on the embedded defaults: no keys, no services, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GUREUM_ADMIN_KEY="${GUREUM_ADMIN_KEY:-sk-gureum-local-admin}"
cat <<MSG
gureum: starting on http://127.0.0.1:8000/v1 with admin key \$GUREUM_ADMIN_KEY=${GUREUM_ADMIN_KEY}
  try:  curl -s http://127.0.0.1:8000/v1/chat/completions -H "Authorization: Bearer ${GUREUM_ADMIN_KEY}" \\
          -d '{"model":"local-chat","messages":[{"role":"user","content":"What is the capital of France?"}]}'
MSG
exec .venv/bin/gureum serve "$@"
