#!/usr/bin/env bash
# Makes sure a Chromium the browser e2e (Playwright) can drive is installed: Debian's
# `chromium` package, at /usr/bin/chromium. Playwright's own browser downloads are not used
# (they cannot be fetched everywhere we run). Quiet and quick when Chromium is already there;
# otherwise installs it with apt-get (through sudo when not root). Idempotent.
#
# BODHI_CHROMIUM=/path/to/chrome skips the check: the tests then drive that browser.
set -euo pipefail

log() { echo "[chromium] $*" >&2; }
prefixed() { sed -u 's/^/[chromium] /' >&2; }

if [[ -n "${BODHI_CHROMIUM:-}" ]]; then
  if [[ -x "$BODHI_CHROMIUM" ]]; then exit 0; fi
  log "BODHI_CHROMIUM=$BODHI_CHROMIUM is not an executable file"
  exit 1
fi

if [[ -x /usr/bin/chromium ]] || command -v chromium >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "Chromium is missing and apt-get is not available: install Chromium and set BODHI_CHROMIUM to its path"
  exit 1
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "Chromium is missing; installing it needs root (or sudo): apt-get install chromium"
    exit 1
  fi
fi

log "Chromium not found; installing Debian's chromium package with apt-get${SUDO:+ (via sudo)}"
"${SUDO[@]}" apt-get update -q 2>&1 | prefixed
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium 2>&1 | prefixed

if [[ -x /usr/bin/chromium ]]; then
  log "installed: $(/usr/bin/chromium --version 2>/dev/null | tail -n 1)"
else
  log "apt-get finished but /usr/bin/chromium is still missing"
  exit 1
fi
