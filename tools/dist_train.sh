#!/usr/bin/env bash
# Distributed training, one process per GPU, launched with torchrun:
#   [NNODES=1 NODE_RANK=0 MASTER_ADDR=127.0.0.1 PORT=29500] \
#   bash tools/dist_train.sh CONFIG GPUS [tools/train.py args...]
# On a machine without CUDA the GPUS processes run on CPU with the gloo backend. Runs the
# repository's .venv/bin/python when it exists (see tools/misc/launch.sh).
if [ $# -lt 2 ]; then
    echo "usage: bash $0 CONFIG GPUS [train.py args...]" >&2
    exit 2
fi
source "$(dirname "$0")/misc/launch.sh"
torchrun_tool train.py "$2" "$1" --launcher pytorch "${@:3}"
