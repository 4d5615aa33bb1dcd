"""``srscope evaluate`` (SR vs baselines vs HR captures), ``srscope usaf`` (resolution target)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _load_model(spec: str):
    """Scores are measured on the reference backend (ONNX Runtime fp32)."""
    from sr_engine.bundled import open_model

    return open_model(spec, backend="onnxruntime")


def evaluate_cmd(
    model: Annotated[str, typer.Argument(help="model.onnx, or the name of a bundled model")],
    refs: Annotated[Path, typer.Argument(help="reference set folder (references.json)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("evaluation"),
    gan_model: Annotated[
        str | None, typer.Option("--gan-model", help="GAN-trained model: scored too, and blended")
    ] = None,
    alpha: Annotated[float, typer.Option(help="fidelity blend weight (0 = MSE, 1 = GAN)")] = 0.5,
    record: Annotated[
        Path | None,
        typer.Option(help="degradation.json (default: the one inside the model file)"),
    ] = None,
    field_size: Annotated[
        int, typer.Option(min=32, max=16384, help="scoring field side in HR pixels")
    ] = 384,
    rl_iterations: Annotated[int, typer.Option(min=1, help="Richardson–Lucy iterations")] = 10,
    max_entries: Annotated[
        int | None, typer.Option(min=1, help="evaluate only the first N entries")
    ] = None,
    threshold: Annotated[float, typer.Option(help="consistency |z| threshold")] = 3.0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace the report in an existing --out")
    ] = False,
) -> None:
    """Score SR against HR captures (PSNR/SSIM vs bicubic, bicubic+RL), resolution, consistency."""
    from rich.console import Console
    from rich.table import Table

    from srscope.atomic import check_output_folder, clear_owned
    from srscope.degradation import DegradationRecord
    from srscope.errors import SettingsError
    from srscope.progress import ProgressBar
    from training.evaluation.evaluate import evaluate
    from training.evaluation.report import REPORT_FILES, write_report

    if not 0.0 <= alpha <= 1.0:
        raise SettingsError(f"--alpha must be in [0, 1], got {alpha}")
    check_output_folder(out, overwrite)
    rec = DegradationRecord.load(record) if record else None
    sr = _load_model(model)
    gan = _load_model(gan_model) if gan_model else None
    with ProgressBar("scoring entries") as bar:
        result, panels = evaluate(
            sr,
            refs,
            gan_model=gan,
            alpha=alpha,
            record=rec,
            field_size=field_size,
            rl_iterations=rl_iterations,
            max_entries=max_entries,
            threshold=threshold,
            progress=bar.update,
        )
    clear_owned(out, REPORT_FILES)  # the report is this run's only (--overwrite)
    paths = write_report(result, panels, out)
    table = Table(title=f"{len(result.entries)} entries, fields of {field_size}² HR px")
    for col in ("method", "PSNR (dB)", "SSIM", "fields"):
        table.add_column(col)
    for r in result.table:
        table.add_row(
            r.method,
            f"{r.psnr_mean:.2f} ± {r.psnr_sd:.2f}",
            f"{r.ssim_mean:.3f} ± {r.ssim_sd:.3f}",
            str(r.n_fields),
        )
    console = Console()
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")
    console.print(f"report: {paths['html']}")


def _parse_groups(spec: str) -> list[int]:
    from srscope.errors import SettingsError

    try:
        if "-" in spec.strip("-"):
            a, b = spec.split("-", 1)
            groups = list(range(int(a), int(b) + 1))
        else:
            groups = [int(g) for g in spec.split(",")]
    except ValueError:
        groups = []
    if not groups:  # "9-6" is no group at all: a report of nothing is not an answer
        raise SettingsError(f"--groups must look like 6-9 or 6,7,8, got {spec!r}")
    return groups


def usaf_cmd(
    image: Annotated[
        Path | None, typer.Argument(help="image of the target (LR capture when --model is given)")
    ] = None,
    pixel_size_um: Annotated[
        float | None,
        typer.Option(help="µm per pixel of IMAGE (default: OME metadata; none: detect triplets)"),
    ] = None,
    hr: Annotated[Path | None, typer.Option(help="HR capture of the same target")] = None,
    hr_pixel_size_um: Annotated[float | None, typer.Option(help="µm per pixel of --hr")] = None,
    model: Annotated[str | None, typer.Option(help="super-resolve IMAGE with this model")] = None,
    simulate: Annotated[
        bool,
        typer.Option(
            "--simulate", help="simulate 5x/0.15 LR and 20x/0.45 HR captures of the target"
        ),
    ] = False,
    groups: Annotated[str, typer.Option(help="USAF groups drawn, e.g. 6-10")] = "6-10",
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("usaf"),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace the report in an existing --out")
    ] = False,
) -> None:
    """USAF 1951 target: contrast per element, finest resolved element, edge FWHM (LR/SR/HR)."""
    from rich.console import Console

    from srscope.atomic import check_output_folder, clear_owned
    from srscope.errors import SettingsError
    from training.evaluation.usaf_report import USAF_FILES, run_usaf, write_usaf_report

    for flag, value in (
        ("--pixel-size-um", pixel_size_um),
        ("--hr-pixel-size-um", hr_pixel_size_um),
    ):
        if value is not None and not value > 0:
            raise SettingsError(f"{flag} must be > 0, got {value}")
    check_output_folder(out, overwrite)
    sr = _load_model(model) if model else None
    report, figures = run_usaf(
        image=image,
        pixel_size_um=pixel_size_um,
        hr=hr,
        hr_pixel_size_um=hr_pixel_size_um,
        model=sr,
        simulate=simulate,
        groups=_parse_groups(groups),
    )
    clear_owned(out, USAF_FILES)  # the report is this run's only (--overwrite)
    path = write_usaf_report(report, figures, out)
    console = Console()
    for name, s in report.summary.items():
        console.print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in s.items()))
    console.print(f"report: {path}")


def register(app: typer.Typer) -> None:
    """Add this part's subcommands to the ``srscope`` app."""
    app.command("evaluate")(evaluate_cmd)
    app.command("usaf")(usaf_cmd)
