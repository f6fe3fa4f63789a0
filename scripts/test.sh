#!/usr/bin/env bash
# npm test: start PostgreSQL for tests (unless one already answers), check the layer order,
# lint, typecheck and test every project, then stop what was started. Non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true

# A PostgreSQL that already answers (CI service, `npm run test:deps:up`) is used and left running.
if bash scripts/test-deps.sh status >/dev/null 2>&1; then
  echo "[test] using the PostgreSQL that already answers at BODHI_TEST_PG_URL" >&2
else
  trap 'bash scripts/test-deps.sh down' EXIT
  bash scripts/test-deps.sh up
fi

node scripts/check-layer-boundaries.mjs
npx nx run-many -t lint typecheck test --outputStyle=static "$@"
# Browser e2e in Debian's Chromium (installed by ensure-chromium.sh when missing).
npx nx run bodhi-server-e2e:browser --outputStyle=static
