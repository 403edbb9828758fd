"""Checkpoints of random models whose outputs mean something to compare: the features keep
their scale through the layers, BN statistics are random (so that folding them changes the
weights) and detectors get random classification biases (so that boxes of distinct scores pass
the score thresholds). Used by test_mmdeploy.py, test_entry_points.py, test_export_backends.py
and tools/deployment/export_matrix.py.

The scale: Kaiming-normal weights alone keep it only where every residual branch is damped
(EMOv2's LayerScale); in a backbone without LayerScale (EdgeFormer) each residual sum adds the
branch's variance, and with independent random BN statistics the features of the random
EdgeFormer-S grew to RMS 382 at its last stage, where a 1e-4 comparison is float noise of the
reference itself. So each BN's running statistics are first measured on the backbone's own
features of a random batch (what BN would learn), then perturbed around them: every stage then
stays at RMS of order 1.
"""
import torch
from torch.nn.modules.batchnorm import _BatchNorm


def calibrate_batchnorm(backbone: torch.nn.Module, generator: torch.Generator,
                        shape=(8, 3, 224, 224)) -> None:
    """Set every BN's running statistics of ``backbone`` to the exact statistics of its input on
    one standard-normal batch of ``shape``: only the BN layers run in train mode (cumulative
    average, so one batch gives its own mean and variance); the rest (drop path, dropout) stays
    in eval mode. The momenta are restored and the backbone is left in eval mode."""
    norms = [m for m in backbone.modules() if isinstance(m, _BatchNorm)]
    momenta = [m.momentum for m in norms]
    backbone.eval()
    for module in norms:
        module.reset_running_stats()
        module.momentum = None
        module.train()
    with torch.no_grad():
        backbone(torch.randn(shape, generator=generator))
    for module, momentum in zip(norms, momenta):
        module.momentum = momentum
        module.eval()


def random_model(config):
    """The model of ``config`` (path) with such random weights, in eval mode."""
    from mmengine.config import Config

    from emo_mm.apis import build_model_from_cfg
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    model = build_model_from_cfg(cfg)
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():  # variance-preserving: with PyTorch's default init the deep
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):  # features vanish
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity='relu', generator=generator)
    for name, param in model.backbone.named_parameters():
        if name.endswith('ls.gamma'):  # EMOv2's LayerScale starts at 1e-6 (also without skip)
            param.data.uniform_(0.5, 1.5, generator=generator)
    norms = [m for m in model.backbone.modules() if isinstance(m, _BatchNorm)]
    for module in norms:  # (only the backbone's: random statistics in the heads kill features)
        module.weight.data.uniform_(0.5, 1.5, generator=generator)
        module.bias.data.normal_(0, 0.2, generator=generator)
    calibrate_batchnorm(model.backbone, generator)
    for module in norms:  # random, but around what BN would learn (so the scale stays)
        std = module.running_var.sqrt()
        noise = torch.empty_like(std).normal_(0, 0.2, generator=generator)
        module.running_mean.add_(noise * std)
        module.running_var.mul_(torch.empty_like(std).uniform_(0.5, 2, generator=generator))
    head = getattr(model, 'bbox_head', None)
    if head is not None:
        for branch in head.cls_convs:
            last = [m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            last.bias.data.normal_(0, 1, generator=generator)
    return model.eval()


def random_checkpoint(config, path) -> str:
    """Save :func:`random_model` of ``config`` to ``path`` (an mmengine checkpoint)."""
    torch.save(dict(state_dict=random_model(config).state_dict(), meta=dict()), str(path))
    return str(path)
