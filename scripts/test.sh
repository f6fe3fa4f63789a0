#!/usr/bin/env bash
# npm test: start PostgreSQL and the PgBouncer in front of it for tests (unless they already
# answer), check the layer order, lint, typecheck and test every project, then stop what was
# started. Non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true

# What already answers (CI service, `npm run test:deps:up`) is used and left running; `up`
# starts the rest, and only that is stopped at the end: everything when PostgreSQL was not
# there (`down`), else just the PgBouncer `up` put in front of it (`pgbouncer-down`).
stop_deps=
if ! node scripts/test-deps.mjs status >/dev/null 2>&1; then
  stop_deps=down
elif ! node scripts/test-deps.mjs pgbouncer-status >/dev/null 2>&1; then
  stop_deps=pgbouncer-down
fi

# Tests write only into temporary directories. They run with a HOME of their own, so the
# user's ~/.cache/bodhi is never touched, and a test that fell back to the default
# BODHI_HOME is caught below instead of going unnoticed.
test_home="$(mktemp -d "${TMPDIR:-/tmp}/bodhi-test-home-XXXXXX")"
cleanup() {
  rm -rf "$test_home"
  if [ -n "$stop_deps" ]; then node scripts/test-deps.mjs "$stop_deps"; fi
}
trap cleanup EXIT
node scripts/test-deps.mjs up
export HOME="$test_home"

node scripts/check-layer-boundaries.mjs
npx nx run-many -t lint typecheck test --outputStyle=static "$@"
# Browser e2e in Debian's Chromium (installed by ensure-chromium.sh when missing).
npx nx run bodhi-server-e2e:browser --outputStyle=static

if [ -e "$HOME/.cache/bodhi" ]; then
  echo "[test] FAILED: a test wrote into the default BODHI_HOME (~/.cache/bodhi):" >&2
  ls -la "$HOME/.cache/bodhi" >&2
  exit 1
fi
