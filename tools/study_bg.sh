#!/usr/bin/env bash
# Run a study profile in the background from its own git worktree (branch `study`), so that edits in this
# checkout never reach a running grid, and commit its records on `study` every 10 minutes, so that a stopped
# machine loses at most the runs in flight (the grid itself is resumable: finished runs are skipped).
#
#   tools/study_bg.sh start [PROFILE] [-- extra hifi-nb reproduce options]   (default PROFILE: cpu)
#   tools/study_bg.sh status      runs done / to do, the processes
#   tools/study_bg.sh stop        stop the grid and the commit loop (runs in flight are redone next start)
#   tools/study_bg.sh merge       commit the records on `study` and merge `study` into this checkout's branch
#
# The commit loop also merges `study` into this checkout's branch after each commit (STUDY_LAND=0: not), so the
# records are on that branch even if the machine stops without a last `merge`; a merge that cannot run now (a git
# operation in progress here, a conflict) is skipped and tried again at the next commit.
#
# Worktree: $STUDY_WORKTREE (default: ../<repo>-study beside this checkout) on branch $STUDY_BRANCH (default
# study); logs and process ids in <worktree>/.study/. The worktree imports hifi_nb from its own files
# (PYTHONPATH) with this checkout's .venv; $JOBS workers (default 2).
set -euo pipefail
SELF=$(readlink -f "$0")
ROOT=$(git -C "$(dirname "$SELF")/.." rev-parse --show-toplevel)
WT=${STUDY_WORKTREE:-$(dirname "$ROOT")/$(basename "$ROOT")-study}
BRANCH=${STUDY_BRANCH:-study}
RECORDS="results/curves results/runs results/hparams"
cmd=${1:-status}; shift || true

_pids() { cat "$WT/.study/pids" 2>/dev/null || true; }
_kernels() {  # notebook kernels of the grid's runs (papermill starts them in sessions of their own)
  for p in $(pgrep -f ipykernel_launcher || true); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "PYTHONPATH=$WT" && echo "$p"; done; true; }
_alive() { for p in $(_pids); do kill -0 "$p" 2>/dev/null && echo "$p"; done; true; }
_commit() {   # the records only (JSON / markdown), never code; nothing to commit is fine. Records the grid moved
  # aside (stale/, broken/) are committed as moved: `add -u` stages the removal of the tracked originals
  ( cd "$WT" && for p in $RECORDS; do
      [ -d "$p" ] && find "$p" \( -name '*.json' -o -name '*.md' \) -not -path '*/tmp/*' -not -path '*/locks/*' -print0 \
        | xargs -0 -r git add -- ; [ -d "$p" ] && git add -u -- "$p"; done
    git diff --cached --quiet || git commit -q -m "Study records: $(git diff --cached --name-only | wc -l) files (tools/study_bg.sh)" )
}

case "$cmd" in
  start)
    profile=${1:-cpu}; [ $# -gt 0 ] && shift; [ "${1:-}" = "--" ] && shift
    [ -n "$(_alive)" ] && { echo "study_bg: already running (pids $(_alive | tr '\n' ' ')); stop it first"; exit 1; }
    [ -x "$ROOT/.venv/bin/hifi-nb" ] || { echo "study_bg: no $ROOT/.venv: run 'make test' once first"; exit 1; }
    branch=$(git -C "$ROOT" rev-parse --abbrev-ref HEAD)
    if [ -d "$WT" ]; then git -C "$WT" merge -q --no-edit "$branch"      # bring the code up to date
    else git -C "$ROOT" worktree add -q -B "$BRANCH" "$WT" "$branch"; fi
    mkdir -p "$WT/.study"
    ex="$(git -C "$ROOT" rev-parse --git-common-dir)/info/exclude"; grep -qx '.study/' "$ex" 2>/dev/null || echo '.study/' >> "$ex"
    export PYTHONPATH="$WT" TOKENIZERS_PARALLELISM=false
    ( cd "$WT" || exit 1
      nohup setsid "$ROOT/.venv/bin/hifi-nb" reproduce --profile "$profile" --jobs "${JOBS:-2}" "$@" > .study/grid.log 2>&1 &
      echo $! > .study/pids )
    ( nohup setsid bash -c "while kill -0 \$(head -1 '$WT/.study/pids') 2>/dev/null; do sleep \${STUDY_COMMIT_EVERY:-600}; '$SELF' _land; done; '$SELF' _land" \
        > "$WT/.study/commit.log" 2>&1 & echo $! >> "$WT/.study/pids" )
    echo "study_bg: $profile running in $WT (log: $WT/.study/grid.log); records committed on '$BRANCH' every ${STUDY_COMMIT_EVERY:-600} s"
    ;;
  _commit) _commit ;;
  _land)   # records onto this checkout's branch, only when nothing else is going on in it
    _commit
    [ "${STUDY_LAND:-1}" = 1 ] || exit 0
    gd=$(git -C "$ROOT" rev-parse --git-dir)
    for f in index.lock MERGE_HEAD REBASE_HEAD CHERRY_PICK_HEAD rebase-merge rebase-apply; do [ -e "$gd/$f" ] && exit 0; done
    git -C "$ROOT" merge -q --no-edit "$BRANCH" 2>/dev/null || { git -C "$ROOT" merge --abort 2>/dev/null; true; }
    ;;
  status)
    [ -d "$WT" ] || { echo "study_bg: no worktree at $WT"; exit 0; }
    alive=$(_alive | tr '\n' ' '); echo "processes: ${alive:-none}; kernels: $(_kernels | wc -l)"
    ( cd "$WT" && PYTHONPATH="$WT" "$ROOT/.venv/bin/hifi-nb" reproduce --profile "${1:-cpu}" --dry-run 2>/dev/null | grep -E '^[0-9]+ runs |^estimated |^measured: |^with the ' )
    ;;
  stop)
    for p in $(_pids); do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
    k=$(_kernels); [ -n "$k" ] && kill -TERM $k 2>/dev/null || true
    rm -f "$WT/.study/pids"; _commit; echo "study_bg: stopped; records committed on 'study'"
    ;;
  merge)
    _commit; git -C "$ROOT" merge -q --no-edit "$BRANCH" && echo "study_bg: merged $BRANCH into $(git -C "$ROOT" rev-parse --abbrev-ref HEAD)"
    ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
