#!/usr/bin/env bash
# Installs the Python package as a user would (README "Python"): `pip install
# --no-build-isolation --no-index .` into a fresh virtual environment that sees Debian's
# packages, then imports it and runs the quickstart from outside the source tree.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
MMSB_PIP_BUILD_DIR="$root/build/pip" "$work/venv/bin/pip" install --quiet --no-build-isolation \
  --no-index "$root" >"$work/pip.log" 2>&1 || { tail -40 "$work/pip.log"; exit 1; }
cd "$work"
"$work/venv/bin/python" -c 'import mmsb, sys; assert mmsb.__file__.startswith(sys.prefix), mmsb.__file__'
echo "consumer (pip install): mmsb $("$work/venv/bin/python" -c 'import mmsb; print(mmsb.__version__)')," \
  "$("$work/venv/bin/python" "$root/examples/python/quickstart.py" | tail -1)"
