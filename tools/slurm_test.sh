#!/usr/bin/env bash
# Testing on a Slurm cluster:
#   [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=...] \
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py args...]
# Runs the repository's .venv/bin/python when it exists (see tools/misc/launch.sh).
if [ $# -lt 4 ]; then
    echo "usage: bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]" >&2
    exit 2
fi
source "$(dirname "$0")/misc/launch.sh"
set -x
srun_tool "$1" "$2" test.py "$3" "$4" --launcher=slurm "${@:5}"
