#!/usr/bin/env bash
# Shared by tools/dist_{train,test}.sh and tools/slurm_{train,test}.sh (sourced, not run).
#
# ROOT is the repository; PYTHON its .venv/bin/python when it exists, else `python` (set PYTHON
# to override). PYTHONPATH starts with ROOT, so emo_mm imports even when it is not installed.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# torchrun_tool TOOL NPROC [TOOL ARGS...]: run tools/TOOL in NPROC processes on this node with
# torchrun. Multi-node runs: NNODES, NODE_RANK, MASTER_ADDR and PORT, as upstream.
# torchrun sets OMP_NUM_THREADS=1 in every process unless it is set: right for one process per
# GPU, but on a machine without GPUs the processes are the workers and one thread each leaves
# cores idle (1 process on 2 cores: half speed). There the cores are shared out instead.
torchrun_tool() {
    if [ -z "${OMP_NUM_THREADS:-}" ] && ! nvidia-smi -L >/dev/null 2>&1; then
        local cores
        cores=$(nproc 2>/dev/null || echo 1)
        OMP_NUM_THREADS=$((cores / $2 > 1 ? cores / $2 : 1))
        export OMP_NUM_THREADS
        echo "[launch] no GPU: $2 CPU process(es), OMP_NUM_THREADS=$OMP_NUM_THREADS each" >&2
    fi
    "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$2" \
        --master_port="${PORT:-29500}" \
        "$ROOT/tools/$1" "${@:3}"
}

# srun_tool PARTITION JOB_NAME TOOL [TOOL ARGS...]: run tools/TOOL as a Slurm job, one task per
# GPU. GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5) and SRUN_ARGS as upstream.
srun_tool() {
    local gpus_per_node=${GPUS_PER_NODE:-8}
    # shellcheck disable=SC2086  # SRUN_ARGS holds several words
    srun -p "$1" \
        --job-name="$2" \
        --gres=gpu:"$gpus_per_node" \
        --ntasks="${GPUS:-8}" \
        --ntasks-per-node="$gpus_per_node" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "$PYTHON" -u "$ROOT/tools/$3" "${@:4}"
}
