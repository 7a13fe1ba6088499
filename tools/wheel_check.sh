#!/usr/bin/env bash
# The wheel check (`make wheel-check`, part of `make test`): build the wheel from this checkout, install it
# WITHOUT extras into a fresh virtual environment, and from a folder outside the checkout run what a pip user
# runs (tools/wheel_check.py): the README's API example, `prepare` for every registered method, and
# `hifi-nb reproduce --profile smoke --limit 1` with the default executor. KEEP=1 keeps the temp folder.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
TORCH="${TORCH:-torch==2.13.0}"          # the CPU wheel first: a bare `torch` requirement pulls the CUDA build
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hifi_wheel_check.XXXXXX")"
# removing a venv with torch takes minutes on some disks: done in the background, detached from our output
[ -n "${KEEP:-}" ] && echo "wheel-check: keeping $WORK" || trap '(rm -rf "$WORK" </dev/null >/dev/null 2>&1 &)' EXIT
t0=$SECONDS
step() { echo "wheel-check [$((SECONDS - t0))s] $*"; }

# data beside the checkout, as .ci/run and the Makefile do; the hub stays offline
[ -z "${HIFI_GLUE_DIR:-}" ] && [ -d "$ROOT/../shared/glue" ] && export HIFI_GLUE_DIR="$(cd "$ROOT/../shared/glue" && pwd)"
[ -z "${HIFI_SAM_DIR:-}" ] && [ -d "$ROOT/../shared/sam_splits" ] && export HIFI_SAM_DIR="$(cd "$ROOT/../shared/sam_splits" && pwd)"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TOKENIZERS_PARALLELISM=false
unset PYTHONPATH

step "copy the package sources (the working tree's, not ignored files) to $WORK/src"
mkdir -p "$WORK/src"
SRC=(setup.py settings.ini pyproject.toml MANIFEST.in README.md LICENSE hifi_nb nbs/experiments)
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$ROOT" && git ls-files -z -co --exclude-standard -- "${SRC[@]}" | tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
else
  (cd "$ROOT" && for f in "${SRC[@]}"; do [ -e "$f" ] && cp -r --parents "$f" "$WORK/src"; done)
fi

step "fresh virtual environment; $TORCH"
"$PYTHON" -m venv "$WORK/venv"
V="$WORK/venv/bin"
pipq() { "$V/pip" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }   # (local index noise)
pipq install -q --no-compile "$TORCH"

step "build the wheel"
pipq wheel -q --no-deps -w "$WORK/dist" "$WORK/src" >/dev/null 2>"$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$WORK"/dist/hifi_nb-*.whl)
"$V/python" -m zipfile -l "$WHEEL" > "$WORK/wheel-contents.txt"
grep -q "hifi_nb/experiments/glue_run.ipynb" "$WORK/wheel-contents.txt" \
  || { echo "wheel-check: FAIL: $WHEEL lacks hifi_nb/experiments/glue_run.ipynb"; exit 1; }

step "install $(basename "$WHEEL") without extras"
pipq install -q --no-compile "$WHEEL" "$TORCH"

step "run as a pip user from $WORK/run"
mkdir -p "$WORK/run" && cp "$ROOT/tools/wheel_check.py" "$WORK/run/"
(cd "$WORK/run" && "$V/python" wheel_check.py "$ROOT/README.md" "$WORK/runs")
step "passed (wall time $((SECONDS - t0)) s)"
