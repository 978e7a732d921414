#!/usr/bin/env bash
# One DVC experiment per SLURM array task, each on a machine (or GPU) of its own; the results come
# back through the shared git remote (the experiment's commit, `dvc exp push`) and the shared DVC
# remote (its models and files). docs/gpu.md, "Many GPUs".
#
#   sbatch --array=0-2 docs/gpu/slurm_array.sh          # one task per line of docs/gpu/experiments.txt
#   DRY_RUN=1 SLURM_ARRAY_TASK_ID=1 bash docs/gpu/slurm_array.sh   # the commands of task 1, run nothing
#   # then, anywhere: dvc exp pull origin --all-commits; make exp-show; dvc plots diff <names>
#
# Needs: the repository pushed to a git remote every node reaches (REPO_URL, default: this clone's
# origin), `dvc remote add -d` done and committed (README "Share your results"), and credentials for
# both on the nodes. Each task clones into node-local scratch, so tasks never share a workspace.
#SBATCH --job-name=bbadj
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=16
#SBATCH --time=08:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
LIST="${EXPERIMENTS:-docs/gpu/experiments.txt}"
REPO_URL="${REPO_URL:-$(git remote get-url origin)}"
REV="${REV:-$(git rev-parse HEAD)}"
TASK="${SLURM_ARRAY_TASK_ID:-0}"
line="$(grep -v '^\s*#' "$LIST" | grep -v '^\s*$' | sed -n "$((TASK + 1))p")"
[[ -n "$line" ]] || { echo "slurm_array.sh: no line $TASK in $LIST" >&2; exit 2; }
read -r name preset args <<<"$line"
work="${SLURM_TMPDIR:-${TMPDIR:-/tmp}}/bbadj-$name-$$"
x() { if [[ -n "${DRY_RUN:-}" ]]; then printf '+ %s\n' "$*"; else "$@"; fi; }   # DRY_RUN=1: print only
x git clone -q "$REPO_URL" "$work"
[[ -n "${DRY_RUN:-}" ]] || cd "$work"
x git checkout -q "$REV"
x make setup CONSTRAINTS="${CONSTRAINTS-constraints.txt}"   # CONSTRAINTS= keeps a CUDA torch (docs/gpu.md)
[[ -n "${DRY_RUN:-}" ]] || source .venv/bin/activate
x dvc pull --allow-missing || true   # what is already in the remote (the committed study) is not rerun
# shellcheck disable=SC2086
x bbadj exp-run "$preset" -n "$name" -- $args   # = dvc exp run -n NAME -S <the preset> ARGS
x dvc exp push origin "$name"        # the experiment to the git remote, its outputs to the DVC remote
