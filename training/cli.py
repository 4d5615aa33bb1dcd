"""``srscope calibrate`` and ``srscope train`` (torch is imported inside the commands)."""

from __future__ import annotations

from pathlib import Path

import typer

from srscope.atomic import check_output


def register(app: typer.Typer) -> None:
    """Add this part's subcommands to the ``srscope`` app."""
    app.command("calibrate")(calibrate)
    app.command("degrade")(degrade)
    app.command("train")(train)


def _validated(model: type, data: dict) -> object:
    """A pydantic config from CLI values; invalid values become one-line user errors."""
    from pydantic import ValidationError

    from srscope.errors import SettingsError
    from srscope.model_base import field_error

    try:
        return model.model_validate(data)  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise SettingsError(f"invalid option {field_error(exc, data)}") from None


def calibrate(
    refs: Path = typer.Argument(..., help="reference set folder (references.json + captures)"),
    out: Path = typer.Option(
        Path("degradation.json"), "--out", "-o", help="degradation record to write"
    ),
    figure: Path | None = typer.Option(
        None, help="verification figure (PNG); default: beside --out"
    ),
    channel: str | None = typer.Option(None, help="calibrate on this channel only"),
    psf: str = typer.Option(
        "auto", help="PSF kind: auto (best cross-validated) | gaussian | airy | kernel"
    ),
    noise: str = typer.Option("auto", help="noise kind: auto | gaussian | poisson-gaussian"),
    denoise: str = typer.Option("none", help="denoise the LR for the PSF fit: none | nlmeans"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out"),
) -> None:
    """Fit the degradation (PSF, gain/offset, noise) to real HR/LR reference pairs."""
    from srscope.progress import ProgressBar
    from training.calibrate import CalibrationConfig, calibrate_references

    cfg = _validated(
        CalibrationConfig, {"channel": channel, "psf": psf, "noise": noise, "denoise": denoise}
    )
    fig = figure or out.with_suffix(".png")
    for path in (out, fig):
        check_output(path, overwrite)
    with ProgressBar("calibrating") as bar:
        result = calibrate_references(refs, cfg, progress=bar.update)
    from training.calibration_figure import save_figure

    result.record.save(out)
    save_figure(result.per_pair[0]["pair"], result, fig)
    r = result.record
    f = r.fit.model_dump()  # type: ignore[union-attr]
    typer.echo(
        f"psf {r.psf.describe()}, gain {r.intensity.gain:.4g}, offset {r.intensity.offset:.4g}, "
        f"noise {r.noise.kind} (std {r.noise.std:.3g}, poisson gain {r.noise.poisson_gain:.3g}); "
        f"residual whiteness {f['whiteness']:.3f}, normalised std "
        f"{f['normalized_residual_std']:.3f} over {f['pairs']} pairs → {out} (figure {fig})"
    )


def degrade(
    hr: Path = typer.Argument(..., help="HR image (TIFF / OME-TIFF / PNG)"),
    degradation: Path = typer.Option(..., "--degradation", "-d", help="degradation record"),
    out: Path = typer.Option(..., "--out", "-o", help="LR image to write (.ome.tif)"),
    seed: int | None = typer.Option(None, help="noise seed (default: fresh noise)"),
    no_noise: bool = typer.Option(False, "--no-noise", help="the expected LR image, no noise"),
    hr_pixel_size_um: float | None = typer.Option(
        None, help="HR pixel size (default: from the file's OME metadata)"
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out"),
) -> None:
    """Apply a degradation record to an image: what the LR objective would record.

    The same maths as the training pairs (``srscope.degradation``).
    """
    from training.degrade import degrade_file

    check_output(out, overwrite)
    lr, px = degrade_file(
        hr, degradation, out, seed=seed, noise=not no_noise, hr_pixel_size_um=hr_pixel_size_um
    )
    size = f", {px:.4g} µm/px" if px else ""
    typer.echo(f"{out}: {lr.shape[-1]}x{lr.shape[-2]} LR{size}")


def _read_config(path: Path) -> object:
    """A TrainConfig JSON file; bad JSON or a wrong schema is one line naming the problem."""
    from srscope.errors import SettingsError
    from training.config import TrainConfig

    if not path.is_file():
        raise SettingsError(f"--train-config {path}: no such file")
    return TrainConfig.from_json(
        path.read_bytes(), f"--train-config {path} is not a TrainConfig JSON"
    )


def train(
    data: list[Path] = typer.Argument(
        ..., help="reference set folder(s), or folder(s) of TIFF/PNG HR images (many specimens)"
    ),
    degradation: Path = typer.Option(
        ..., "--degradation", "-d", help="degradation.json from calibrate"
    ),
    out: Path = typer.Option(Path("model.onnx"), "--out", "-o", help="ONNX model to write"),
    preset: str = typer.Option(
        "live", help="live (ESPCN-like, live view) | balanced (LR residual net) | paper (SRGAN)"
    ),
    iterations: int | None = typer.Option(None, help="total iterations"),
    epochs: int | None = typer.Option(
        None, min=1, help="alternative to --iterations: epochs × --epoch-iterations"
    ),
    epoch_iterations: int | None = typer.Option(
        None, min=1, help="iterations per epoch (validation period)"
    ),
    warmup: int | None = typer.Option(None, help="MSE-only warm-up iterations (paper preset)"),
    patch: int | None = typer.Option(
        None, help="LR patch size (HR patch = patch × scale); default 96"
    ),
    batch: int | None = typer.Option(None, help="patches per step"),
    lr: float | None = typer.Option(None, help="Adam learning rate"),
    features: int | None = typer.Option(None, help="generator feature maps"),
    blocks: int | None = typer.Option(None, help="residual blocks (paper, balanced presets)"),
    vgg_weights: Path | None = typer.Option(
        None, help="torchvision-format VGG19 state dict (local file)"
    ),
    vgg_layer: str | None = typer.Option(
        None, help="VGG19 layer of the feature loss, e.g. relu5_4"
    ),
    no_adversarial: bool = typer.Option(False, "--no-adversarial", help="MSE (+VGG) only"),
    init: str | None = typer.Option(
        None, help="warm-start (fine-tune) from a bundled model name or an srscope model.onnx"
    ),
    psf_range: float | None = typer.Option(
        None, help="also train on PSF widths within ±this fraction (generalist models, e.g. 0.3)"
    ),
    noise_range: str | None = typer.Option(
        None, help="noise std factors LOW,HIGH drawn per patch (generalist models, e.g. 0.5,2)"
    ),
    channel: str | None = typer.Option(None, help="only this channel of a reference set"),
    stack_channels: bool = typer.Option(
        False, "--stack-channels", help="one multi-channel model instead of a per-channel one"
    ),
    hr_pixel_size_um: float | None = typer.Option(None, help="HR pixel size (image folders)"),
    ema_decay: float | None = typer.Option(
        None, help="EMA of the weights that is validated and exported (0: off; default 0.999)"
    ),
    real_validation: bool = typer.Option(
        True, help="choose the kept checkpoint on held-out real LR captures when the set has them"
    ),
    seed: int = typer.Option(0, help="seed of weights, patches and noise"),
    threads: int | None = typer.Option(None, help="torch threads (default ≤ 2)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    workdir: Path | None = typer.Option(None, help="checkpoints and log (default: OUT.train/)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --workdir"),
    config: Path | None = typer.Option(
        None, "--train-config", help="a TrainConfig JSON (options above override it)"
    ),
    old_config: Path | None = typer.Option(None, "--config", hidden=True),  # the old name
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out"),
) -> None:
    """Train a generator on HR images with LR made by the calibrated degradation; export ONNX."""
    _require_torch()
    from pydantic import ValidationError

    from srscope.errors import SettingsError, SrscopeError
    from srscope.model_base import field_error
    from training.config import PRESETS, LossConfig, TrainConfig, generator_config
    from training.pipeline import train_model

    if preset not in PRESETS:
        raise SettingsError(f"unknown preset {preset!r}; one of {', '.join(PRESETS)}")

    config = config or old_config
    base = _read_config(config) if config else TrainConfig.preset_defaults(preset)
    if init is not None:  # the warm start's own generator; the run's other settings stay
        from sr_engine.bundled import resolve_model
        from training.warmstart import init_model

        init_path = resolve_model(init)
        meta = init_model(init_path)[1]
        made = meta.training.get("config", {})
        if "generator" not in made:
            raise SrscopeError(f"--init {init}: the model does not say how it was trained")
        try:
            generator = generator_config(made["generator"])
        except ValidationError as exc:
            raise SrscopeError(f"--init {init}: {field_error(exc, made['generator'])}") from None
        base = base.model_copy(
            update={
                "preset": made.get("preset", base.preset),
                "generator": generator,
                "init": init_path,
            }
        )
    data_cfg = base.model_dump()
    ep_it = epoch_iterations or base.epoch_iterations
    if epochs is not None and iterations is None:
        iterations = epochs * ep_it
    gen = base.generator.model_dump()  # --blocks on a kind without blocks: one-line refusal
    gen.update({k: v for k, v in {"features": features, "blocks": blocks}.items() if v is not None})
    loss = base.loss.model_copy(update={"vgg_layer": vgg_layer} if vgg_layer else {})
    updates = {
        "iterations": iterations,
        "epoch_iterations": ep_it,
        "warmup_iterations": warmup,
        "patch_lr": patch,
        "batch": batch,
        "lr": lr,
        "vgg_weights": vgg_weights,
        "channel": channel,
        "seed": seed,
        "threads": threads,
        "device": device,
        "ema_decay": ema_decay,
    }
    data_cfg.update({k: v for k, v in updates.items() if v is not None})
    data_cfg.update(
        generator=gen,
        loss=LossConfig.model_validate(loss.model_dump()),
    )
    if psf_range is not None:
        data_cfg["psf_scale_range"] = psf_range
    if noise_range is not None:
        lo_hi = noise_range.split(",")
        if len(lo_hi) != 2:
            raise SettingsError(f"--noise-range wants LOW,HIGH (e.g. 0.5,2), got {noise_range!r}")
        try:
            data_cfg["noise_scale_range"] = (float(lo_hi[0]), float(lo_hi[1]))
        except ValueError:
            raise SettingsError(f"--noise-range wants two numbers, got {noise_range!r}") from None
    if no_adversarial:
        data_cfg["adversarial"] = False
    if stack_channels:
        data_cfg["stack_channels"] = True
    if not real_validation:
        data_cfg["real_validation"] = False
    cfg = _validated(TrainConfig, data_cfg)
    check_output(out, overwrite or resume)  # and a folder for it (and its OUT.train workdir)
    res = train_model(
        data if len(data) > 1 else data[0],
        degradation,
        out,
        cfg,
        workdir=workdir,
        resume=resume,
        hr_pixel_size_um=hr_pixel_size_um,
    )
    m = res.result.metrics
    real = (
        f"; real LR captures {m['real_psnr']:.2f} dB / {m['real_ssim']:.4f}"
        if "real_psnr" in m
        else ""
    )
    typer.echo(
        f"{res.model}: {res.result.iteration} iterations, val PSNR {m['val_psnr']:.2f} dB / SSIM "
        f"{m['val_ssim']:.4f} (bicubic {m['bicubic_psnr']:.2f} / {m['bicubic_ssim']:.4f}){real}; "
        f"ORT check {res.export_diff:.1e} of range"
    )


def _require_torch() -> None:
    """Training is the only part that needs PyTorch; say how to get it, not a traceback."""
    try:
        import torch  # noqa: F401
    except ImportError:
        from srscope.errors import SrscopeError

        raise SrscopeError(
            "training needs PyTorch, which is not installed: "
            'pip install torch==2.13.0 "srscope[training]"'
        ) from None
