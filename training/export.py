"""Export a generator to one self-contained ``model.onnx`` with srscope metadata.

BN is folded into the preceding convolutions, N/H/W are dynamic, weights are
inside the file (TorchScript-based exporter, ``dynamo=False``: it never writes a
``.onnx.data`` side file), and ONNX Runtime is checked against PyTorch at two
input sizes before the file is moved into place.
"""

from __future__ import annotations

import copy
import io
import itertools
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from sr_engine.metadata import ModelMetadata, attach_metadata
from srscope.atomic import atomic_path
from srscope.errors import SrscopeError

OPSET = 17


class ExportCheckError(SrscopeError):
    """ONNX Runtime disagrees with PyTorch on the exported model."""


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy with every Conv2d→BatchNorm2d pair inside a Sequential fused into one conv."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for a, b in itertools.pairwise(names):
            conv, bn = module._modules[a], module._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                module._modules[a] = fuse_conv_bn_eval(conv, bn)
                module._modules[b] = nn.Identity()
    return model


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def to_onnx_bytes(model: nn.Module, channels: int, probe: int = 16) -> bytes:
    """TorchScript export with dynamic batch, height and width."""
    buf = io.BytesIO()
    x = torch.rand(1, channels, probe, probe)
    with warnings.catch_warnings():
        # the legacy exporter is deprecated in torch 2.13 but is the one that keeps
        # weights inside one file and exports dynamic H/W for plain conv nets
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            model.cpu().eval(),
            (x,),
            buf,
            dynamo=False,
            input_names=["lr"],
            output_names=["sr"],
            dynamic_axes={"lr": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "sh", 3: "sw"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    return buf.getvalue()


def check_against_torch(
    model: nn.Module,
    onnx_bytes: bytes,
    channels: int,
    sizes: tuple[tuple[int, int, int], ...] = ((1, 37, 53), (2, 64, 48)),
    rtol_of_range: float = 1e-4,
) -> float:
    """Max |ORT − torch| / output range over two input sizes; raises if above tolerance."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    model = model.cpu().eval()
    for n, h, w in sizes:
        x = rng.random((n, channels, h, w), dtype=np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got = sess.run(["sr"], {"lr": x})[0]
        if got.shape != ref.shape:
            raise ExportCheckError(
                f"ONNX output shape {got.shape} != PyTorch {ref.shape} for input {x.shape}"
            )
        rel = float(np.abs(got - ref).max() / max(float(ref.max() - ref.min()), 1e-12))
        if rel > rtol_of_range:
            raise ExportCheckError(
                f"ONNX Runtime differs from PyTorch by {rel:.2e} of the output range "
                f"(limit {rtol_of_range:.0e}) at input {x.shape}: the export is wrong"
            )
        worst = max(worst, rel)
    return worst


def export_model(
    generator: nn.Module, meta: ModelMetadata, out: str | Path
) -> tuple[Path, float, ModelMetadata]:
    """Fold BN, export, attach metadata, check against PyTorch, then atomically write ``out``."""
    import onnx

    out = Path(out)
    channels = meta.n_channels
    folded = fold_batchnorm(generator).cpu()
    if has_batchnorm(folded):
        raise SrscopeError("BatchNorm left after folding (a BN not preceded by a conv)")
    raw = to_onnx_bytes(folded, channels)
    proto = onnx.load_from_string(raw)
    attach_metadata(proto, meta)
    data = proto.SerializeToString()
    diff = check_against_torch(generator.cpu().eval(), data, channels)
    if meta.receptive_field is None:  # measured by the engine itself, so it loads the file too
        from sr_engine.model import SRModel

        rf = SRModel(data).receptive_field
        meta = meta.model_copy(update={"receptive_field": rf})
        data = attach_metadata(proto, meta).SerializeToString()
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return out, diff, meta
