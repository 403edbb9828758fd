#!/usr/bin/env bash
# Distributed training, one process per GPU, launched with torchrun:
#   bash tools/dist_train.sh CONFIG GPUS [tools/train.py args...]
# On a machine without CUDA the GPUS processes run on CPU with the gloo backend.
# Multi-node runs: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
# Runs the repository's .venv/bin/python when it exists (else `python`; override with PYTHON).
if [ $# -lt 2 ]; then
    echo "usage: bash $0 CONFIG GPUS [train.py args...]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}

PYTHONPATH="$ROOT":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$ROOT/tools/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
