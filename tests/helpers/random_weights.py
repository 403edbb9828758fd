"""Checkpoints of random models whose outputs mean something to compare: the features keep
their scale through the layers, BN statistics are random (so that folding them changes the
weights) and detectors get random classification biases (so that boxes of distinct scores pass
the score thresholds). Used by test_mmdeploy.py and test_entry_points.py."""
import torch


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
    for module in model.backbone.modules():  # (random statistics in the heads kill features)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.2, generator=generator)
            module.running_var.uniform_(0.5, 2, generator=generator)
            module.weight.data.uniform_(0.5, 1.5, generator=generator)
            module.bias.data.normal_(0, 0.2, generator=generator)
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
