"""evaluate() reports its progress entry by entry (the CLI shows it as a bar)."""

from sr_engine.model import SRModel
from training.evaluation.evaluate import evaluate


def test_evaluate_reports_each_entry_and_the_end(reference_set, tiny_models):
    mse, _ = tiny_models
    seen: list[tuple[int, int]] = []
    model = SRModel(mse)
    result, _ = evaluate(
        model, reference_set, field_size=96, max_entries=2, progress=lambda *p: seen.append(p)
    )
    assert seen == [(0, 2), (1, 2), (2, 2)]
    assert len(result.entries) == 2
