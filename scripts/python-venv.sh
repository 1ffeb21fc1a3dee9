#!/usr/bin/env bash
# Makes the virtual environment `make test` builds the Python module into and runs its tests in
# (VENV, default target/python-venv), with the packages python/tests/requirements.txt pins.
# Debian's python3 has no `venv` without the python3-venv package: as root (CI is), it is
# installed when `python3 -m venv` fails; otherwise the error says what to install.
set -euo pipefail

VENV=${1:-target/python-venv}
PYTHON=${PYTHON:-python3}
REQUIREMENTS=python/tests/requirements.txt

log() { echo "python-venv: $*" >&2; }

if ! "$PYTHON" -m venv --clear "$VENV" >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    log "\`$PYTHON -m venv\` failed: install Debian's python3-venv (apt-get install python3-venv)"
    exit 1
  fi
  log "installing Debian's python3-venv (\`$PYTHON -m venv\` failed without it)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  "$PYTHON" -m venv --clear "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
touch "$VENV/.ready"
