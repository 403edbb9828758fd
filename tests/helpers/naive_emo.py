"""A slow, literal re-implementation of the official EMO / EMOv2 forward, for tests only.

Written from the architecture facts, independently of emo_mm's modules: it runs directly on an
*official* state dict (official key names), gathers every attention group with explicit row /
column index lists, and computes softmax attention and the norms by hand. It is anchored by the
shipped outputs of the official implementation (tests/data/reference/expected_*.pt) and then used
to check emo_mm on every arch, window size and input size that the shipped files do not cover.
"""
import math

import torch
import torch.nn.functional as F

EPS = 1e-6
V1 = dict(
    emo_1m=dict(depths=[2, 2, 8, 3], heads_dim=[16, 16, 20, 21], dw=[3, 3, 5, 5]),
    emo_2m=dict(depths=[3, 3, 9, 3], heads_dim=[16, 16, 20, 20], dw=[3, 3, 5, 5]),
    emo_5m=dict(depths=[3, 3, 9, 3], heads_dim=[24, 24, 32, 32], dw=[3, 3, 5, 5]),
    emo_6m=dict(depths=[3, 3, 9, 3], heads_dim=[16, 24, 20, 32], dw=[3, 3, 5, 5]),
)
V2 = dict(
    emo2_1m=dict(depths=[2, 2, 8, 3], heads_dim=[16, 16, 20, 20]),
    emo2_2m=dict(depths=[3, 3, 9, 3], heads_dim=[16, 16, 20, 20]),
    emo2_5m=dict(depths=[3, 3, 9, 3], heads_dim=[16, 24, 32, 32]),
    emo2_20m=dict(depths=[3, 3, 13, 3], heads_dim=[16, 32, 32, 32]),
)


def _conv(x, sd, p, stride=1, groups=1):
    w = sd[p + '.weight']
    return F.conv2d(x, w, sd.get(p + '.bias'), stride, (w.shape[-1] - stride + 1) // 2, 1, groups)


def _bn(x, sd, p):
    return (x - sd[p + '.running_mean'][:, None, None]) / torch.sqrt(
        sd[p + '.running_var'][:, None, None] + EPS) * sd[p + '.weight'][:, None, None] + sd[p + '.bias'][:, None, None]


def _ln(x, sd, p):
    mean = x.mean(1, keepdim=True)
    var = ((x - mean)**2).mean(1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * sd[p + '.weight'][:, None, None] + sd[p + '.bias'][:, None, None]


def _norm(x, sd, p):
    return _bn(x, sd, p) if p + '.running_mean' in sd else _ln(x, sd, p + '.norm')


def _gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def _silu(x):
    return x * torch.sigmoid(x)


def _groups(H, W, w, kind):
    """Yield (row indices, col indices) of every group over a padded H x W map."""
    wh, ww = (H, W) if w <= 0 else (w, w)
    n1, n2 = H // wh, W // ww
    for a in range(n1):
        for b in range(n2):
            if kind == 'grid':
                yield [a + i * n1 for i in range(wh)], [b + j * n2 for j in range(ww)]
            else:
                yield [a * wh + i for i in range(wh)], [b * ww + j for j in range(ww)]


def _attention(q, k, v, heads, w, kind):
    """Attention inside each group; q, k: (B, Cq, H, W), v: (B, Cv, H, W) padded maps."""
    B, Cq, H, W = q.shape
    out = torch.zeros_like(v)
    dq, dv = Cq // heads, v.shape[1] // heads
    for rows, cols in _groups(H, W, w, kind):
        r, c = torch.tensor(rows), torch.tensor(cols)
        take = lambda t: t[:, :, r][:, :, :, c].flatten(2)  # (B, C, N), row-major tokens
        qs, ks, vs = take(q), take(k), take(v)
        res = []
        for h in range(heads):
            qh, kh, vh = qs[:, h * dq:(h + 1) * dq], ks[:, h * dq:(h + 1) * dq], vs[:, h * dv:(h + 1) * dv]
            logits = qh.transpose(1, 2) @ kh / math.sqrt(dq)  # (B, N, N)
            attn = torch.exp(logits - logits.amax(-1, keepdim=True))
            attn = attn / attn.sum(-1, keepdim=True)
            res.append((attn @ vh.transpose(1, 2)).transpose(1, 2))  # (B, dv, N)
        res = torch.cat(res, 1).reshape(B, -1, len(rows), len(cols))
        out[:, :, r[:, None], c[None, :]] = res
    return out


def _pad(x, w):
    if w <= 0:
        return x
    H, W = x.shape[-2:]
    return F.pad(x, (0, (w - W % w) % w, 0, (w - H % w) % w))


def _block(x, sd, p, version, stage, first, head_dim, window, dw):
    skip = not first
    shortcut = x
    x = _norm(x, sd, p + '.norm')
    H, W = x.shape[-2:]
    if version == 1:
        if p + '.qk.conv.weight' in sd:
            xp = _pad(x, window)
            q, k = _conv(xp, sd, p + '.qk.conv').chunk(2, 1)
            x = _attention(q, k, xp, x.shape[1] // head_dim, window, 'grid')[:, :, :H, :W]
            x = _gelu(_conv(x, sd, p + '.v.conv'))
        else:
            act = _silu if stage < 2 else _gelu
            x = act(_conv(x, sd, p + '.v.conv'))
    else:
        if p + '.eops.0.qk.conv.weight' in sd:
            xp = _pad(x, window)
            q, k = _conv(xp, sd, p + '.eops.0.qk.conv').chunk(2, 1)
            v = _gelu(_conv(xp, sd, p + '.eops.0.v.conv'))
            heads = x.shape[1] // head_dim
            x = (_attention(q, k, v, heads, window, 'grid') + _attention(q, k, v, heads, window, 'local'))[:, :, :H, :W]
        else:
            act = _silu if stage < 2 else _gelu
            x = act(_conv(x, sd, p + '.eops.0.net.conv'))
    y = _silu(_bn(_conv(x, sd, p + '.conv_local.conv', 2 if first else 1, groups=x.shape[1]), sd, p + '.conv_local.norm'))
    x = x + y if skip else y
    x = _conv(x, sd, p + '.proj.conv')
    if version == 2:
        x = x * sd[p + '.ls.gamma']
    return shortcut + x if skip else x


@torch.no_grad()
def naive_forward(sd, arch, x, window_size):
    """Return (5 level features, logits) of the official model ``arch`` with weights ``sd``.

    ``window_size``: one int for every stage or a list of 4 (one per stage).
    """
    windows = list(window_size) if isinstance(window_size, (list, tuple)) else [window_size] * 4
    version = 2 if arch.startswith('emo2') else 1
    cfg = (V2 if version == 2 else V1)[arch]
    feats = []
    if version == 1:
        x = _bn(_conv(x, sd, 'stage0.0.convs.0.0', 2), sd, 'stage0.0.convs.0.1')
        y = _silu(_bn(_conv(x, sd, 'stage0.1.conv_local.conv', groups=x.shape[1]), sd, 'stage0.1.conv_local.norm'))
        gate = _conv(_silu(_conv(y.mean((2, 3), keepdim=True), sd, 'stage0.1.se.conv_reduce')), sd, 'stage0.1.se.conv_expand')
        x = _conv(y * torch.sigmoid(gate), sd, 'stage0.1.proj.conv')
    else:
        x = _silu(_bn(_conv(x, sd, 'stage0.0.conv', 2), sd, 'stage0.0.norm'))
        x = _silu(_bn(_conv(x, sd, 'stage0.1.conv', groups=x.shape[1]), sd, 'stage0.1.norm'))
        x = _conv(x, sd, 'stage0.2.conv')
    feats.append(x)
    for s in range(4):
        for j in range(cfg['depths'][s]):
            dw = cfg['dw'][s] if version == 1 else 5
            x = _block(x, sd, f'stage{s + 1}.{j}', version, s, j == 0, cfg['heads_dim'][s], windows[s], dw)
        feats.append(x)
    logits = _ln(x, sd, 'norm.norm').mean((2, 3)) @ sd['head.weight'].t() + sd['head.bias']
    return feats, logits
