"""The fidelity dial: between an MSE-trained and a GAN-trained generator.

MSE-trained generators are closer to the truth on average (higher PSNR) but
smooth; GAN-trained ones restore texture that may not be there. Blending the two
outputs in image space, ``(1-α)·MSE + α·GAN``, lets the user choose the trade-off
continuously (α = 0: MSE only, α = 1: GAN only). Both models see the same input
and use the same normalisation, so their outputs are in the same units.

No torch: works on arrays, or on any two objects with ``predict(image) -> array``
(``sr_engine``'s model class, a test double).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from sr_engine.errors import ModelError
from srscope.errors import ImageError, SettingsError


@runtime_checkable
class Predictor(Protocol):
    """What the dial needs from a model: LR image in, SR image out (same units)."""

    def predict(self, image: np.ndarray, /, **kwargs: Any) -> np.ndarray: ...


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise SettingsError(f"fidelity alpha must be in [0, 1], got {alpha}")
    return alpha


def blend(mse: np.ndarray, gan: np.ndarray, alpha: float) -> np.ndarray:
    """``(1-α)·mse + α·gan`` as float32; the endpoints return the inputs exactly."""
    alpha = _check_alpha(alpha)
    mse = np.asarray(mse, dtype=np.float32)
    gan = np.asarray(gan, dtype=np.float32)
    if mse.shape != gan.shape:
        raise ImageError(f"MSE and GAN outputs differ in shape: {mse.shape} vs {gan.shape}")
    if alpha == 0.0:
        return mse.copy()
    if alpha == 1.0:
        return gan.copy()
    return ((1.0 - alpha) * mse + alpha * gan).astype(np.float32, copy=False)


def _meta_key(model: Any) -> tuple[Any, Any]:
    """(scale, channels) from ``model.meta`` (``SRModel``) when it has one."""
    meta = getattr(model, "meta", None)
    return getattr(meta, "scale", None), getattr(meta, "channels", None)


class FidelityDial:
    """Two generators and a blend weight; ``predict`` runs only the models α needs."""

    def __init__(self, mse_model: Predictor, gan_model: Predictor, alpha: float = 0.0) -> None:
        for role, m in (("MSE", mse_model), ("GAN", gan_model)):
            if not isinstance(m, Predictor):
                raise ModelError(f"{role} model has no predict(image) method")
        (s1, c1), (s2, c2) = _meta_key(mse_model), _meta_key(gan_model)
        if s1 is not None and s2 is not None and s1 != s2:
            raise ModelError(f"MSE and GAN models differ in scale: {s1} vs {s2}")
        if c1 is not None and c2 is not None and list(c1) != list(c2):
            raise ModelError(f"MSE and GAN models differ in channels: {c1} vs {c2}")
        self.mse_model = mse_model
        self.gan_model = gan_model
        self._alpha = _check_alpha(alpha)

    @property
    def alpha(self) -> float:
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._alpha = _check_alpha(value)

    def predict(self, image: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Super-resolve ``image`` with the current blend (one model run at the endpoints)."""
        a = self._alpha
        if a == 0.0:
            return np.asarray(self.mse_model.predict(image, **kwargs), dtype=np.float32)
        if a == 1.0:
            return np.asarray(self.gan_model.predict(image, **kwargs), dtype=np.float32)
        return blend(
            self.mse_model.predict(image, **kwargs), self.gan_model.predict(image, **kwargs), a
        )

    def predict_both(self, image: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        """Both outputs, so a viewer can re-blend when the dial moves without rerunning."""
        return (
            np.asarray(self.mse_model.predict(image, **kwargs), dtype=np.float32),
            np.asarray(self.gan_model.predict(image, **kwargs), dtype=np.float32),
        )
