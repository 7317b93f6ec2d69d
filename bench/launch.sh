#!/usr/bin/env bash
# Launch benchmark (see bench/launch.py): builds dist/claudebox.pyz, then runs the timings as
# the unprivileged user who would run claudebox (as root: $CLAUDEBOX_TEST_USER, default cbtest).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
[[ -x $python ]] || python=python3
"$python" build.py >/dev/null
if [[ $(id -u) -eq 0 ]]; then
    user=${CLAUDEBOX_TEST_USER:-cbtest}
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    cp -r claudebox.py dist bench tests "$scratch/"
    chmod -R a+rX "$scratch"
    cd "$scratch"
    exec setpriv --reuid="$user" --regid="$user" --clear-groups -- \
        env -i PATH=/usr/bin:/bin RUNS="${RUNS:-20}" /usr/bin/python3 bench/launch.py
fi
exec /usr/bin/python3 bench/launch.py
