"""Evaluation and the engine's trust tools must import and run without torch."""

import subprocess
import sys

CODE = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, Block())
import numpy as np
import sr_engine.consistency, sr_engine.fidelity
import training.evaluation.cli, training.evaluation.evaluate, training.evaluation.usaf_report
from training.evaluation.baselines import bicubic
assert bicubic(np.zeros((4, 4)), 2).shape == (8, 8)
"""


def test_evaluation_imports_without_torch():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
