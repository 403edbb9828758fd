#!/usr/bin/env bash
# Distributed testing, one process per GPU, launched with torchrun:
#   [NNODES=1 NODE_RANK=0 MASTER_ADDR=127.0.0.1 PORT=29500] \
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py args...]
# On a machine without CUDA the GPUS processes run on CPU with the gloo backend. Runs the
# repository's .venv/bin/python when it exists (see tools/misc/launch.sh).
if [ $# -lt 3 ]; then
    echo "usage: bash $0 CONFIG CHECKPOINT GPUS [test.py args...]" >&2
    exit 2
fi
source "$(dirname "$0")/misc/launch.sh"
torchrun_tool test.py "$3" "$1" "$2" --launcher pytorch "${@:4}"
