"""Validation on real LR captures: each field's held-out rows, as the LR camera saw them.

Simulated validation patches share the degradation model's assumptions with the
training pairs, so they cannot tell a checkpoint that fits the model from one that
fits the rig. When a reference set holds LR captures, the held-out strip of every
HR field (never trained on) is cut from the real LR capture with some context and
scored against the HR capture: that score picks the checkpoint that is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srscope import logger
from srscope.degradation import DegradationRecord
from srscope.errors import SrscopeError
from training.dataset import Prepared
from training.images import read_plane
from training.register import locate, shift_image

CONTEXT_LR_PX = 8  # LR pixels of input around the strip, so its borders are not scored


@dataclass
class RealStrip:
    """A held-out strip: normalised real LR with context, and the normalised HR it must give."""

    name: str
    lr: np.ndarray  # (C, h, w)
    hr: np.ndarray  # (C, H, W), aligned to the model output at ``offset``
    offset: tuple[int, int]  # HR pixels: where ``hr`` lies in the output of ``lr``


def real_strips(prepared: list[Prepared], record: DegradationRecord) -> list[RealStrip]:
    """One strip per prepared source that has an LR capture and a held-out strip."""
    strips = []
    for pr in prepared:
        lr_file = pr.meta.get("lr_file")
        if lr_file is None or pr.val_rows is None or pr.target.shape[0] != 1:
            continue
        try:
            strips.append(_strip(pr, Path(lr_file), record))
        except SrscopeError as exc:  # an LR capture that does not cover its field: skip it
            logger.warning("real-LR validation skips %s: %s", pr.name, exc)
    return strips


def _strip(pr: Prepared, lr_file: Path, record: DegradationRecord) -> RealStrip:
    s, m = record.scale, CONTEXT_LR_PX
    lr = read_plane(lr_file).astype(np.float32)
    hr_units = pr.target[0]  # gain·HR + offset
    template = record.blur(hr_units[None])[0]
    template = template[: template.shape[0] // s * s, : template.shape[1] // s * s]
    y0, x0 = locate(template.reshape(template.shape[0] // s, s, -1, s).mean(axis=(1, 3)), lr)
    r0 = math.ceil(pr.val_rows[0] / s) * s  # type: ignore[index]
    r1 = pr.val_rows[1] // s * s  # type: ignore[index]
    w = hr_units.shape[1] // s * s
    iy, ix = math.floor(y0), math.floor(x0)
    ly0, ly1 = iy + r0 // s - m, iy + r1 // s + m
    lx0, lx1 = ix - m, ix + w // s + m
    if ly0 < 0 or lx0 < 0 or ly1 > lr.shape[0] or lx1 > lr.shape[1]:
        raise SrscopeError("the LR capture does not cover the held-out strip with context")
    # the HR strip moved by the sub-pixel part of the field's position on the LR grid
    hr = shift_image(hr_units[r0:r1, :w], (y0 - iy) * s, (x0 - ix) * s)
    lo, span = float(pr.lo[0]), float(pr.span[0])
    return RealStrip(
        pr.name,
        ((lr[ly0:ly1, lx0:lx1] - lo) / span)[None].astype(np.float32),
        ((hr - lo) / span)[None].astype(np.float32),
        (m * s, m * s),
    )
