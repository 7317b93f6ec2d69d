#!/usr/bin/env bash
# Launch benchmark (see bench/launch.py; or the script given, e.g. bench/survey.py): builds
# dist/claudebox.pyz, then runs the timings as the unprivileged user who would run claudebox (as
# root: $CLAUDEBOX_TEST_USER, default cbtest).
set -euo pipefail
cd "$(dirname "$0")/.."
script=${1:-bench/launch.py}
python=${PYTHON:-.venv/bin/python}
[[ -x $python ]] || python=python3
"$python" build.py >/dev/null
if [[ $(id -u) -eq 0 ]]; then
    user=${CLAUDEBOX_TEST_USER:-cbtest}
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    cp -r claudebox.py dist bench tests "$scratch/"
    git show "${BASE:-HEAD}:claudebox.py" >"$scratch/claudebox_base.py"  # bench/survey.py's
    chmod -R a+rX "$scratch"
    cd "$scratch"
    exec setpriv --reuid="$user" --regid="$user" --clear-groups -- \
        env -i PATH=/usr/bin:/bin RUNS="${RUNS:-20}" BASE="${BASE:-HEAD}" /usr/bin/python3 "$script"
fi
exec /usr/bin/python3 "$script"
