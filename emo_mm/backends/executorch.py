"""ExecuTorch program (``.pte``): ``torch.export`` lowered to XNNPACK, run by ExecuTorch's
Python runtime (the same XNNPACK kernels as on Android / iOS)."""
import torch

from .base import Backend, threads


def use_threads() -> None:
    """Size ExecuTorch's (process-wide) XNNPACK threadpool to
    :func:`~emo_mm.backends.base.threads`: by default it takes every core of the machine, also
    in a process pinned to fewer (``taskset``)."""
    from executorch.extension.pybindings import portable_lib
    if portable_lib._threadpool_get_thread_count() != threads():
        portable_lib._unsafe_reset_threadpool(threads())


class ExecuTorchBackend(Backend):
    name = 'executorch'
    packages = (('executorch.exir', 'executorch'), ('torchao', 'torchao'))
    suffix = '.pte'
    summary = 'ExecuTorch program lowered to XNNPACK, run by the ExecuTorch runtime'

    def convert(self, module, x, path):
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import \
            XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
        program = torch.export.export(module, (x, ))
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        with open(path, 'wb') as f:
            f.write(lowered.to_executorch().buffer)
        return [path]

    def load(self, path):
        from executorch.runtime import Runtime
        use_threads()
        method = Runtime.get().load_program(path).load_method('forward')
        return lambda x: [o.numpy() for o in method.execute([x])]
