"""LiteRT (TensorFlow Lite) flatbuffer (``.tflite``) by ``litert_torch.convert``, run by the
``ai_edge_litert`` interpreter (XNNPACK delegate, as on Android)."""

from .base import Backend, output_index, threads


class LiteRtBackend(Backend):
    name = 'litert'
    packages = (('litert_torch', 'litert-torch'), ('ai_edge_litert.interpreter', 'ai-edge-litert'))
    suffix = '.tflite'
    summary = 'LiteRT / TFLite flatbuffer (litert-torch), run by the LiteRT interpreter'

    def convert(self, module, x, path):
        import litert_torch
        litert_torch.convert(module, (x, )).export(path)
        return [path]

    def load(self, path):
        from ai_edge_litert.interpreter import Interpreter
        interpreter = Interpreter(model_path=path, num_threads=threads())
        name = interpreter.get_signature_list()['serving_default']['inputs'][0]
        runner = interpreter.get_signature_runner('serving_default')

        def infer(x):
            out = runner(**{name: x.numpy()})
            return [out[key] for key in sorted(out, key=output_index)]

        return infer
