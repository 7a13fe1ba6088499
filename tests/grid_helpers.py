"""What the grid tests share: where the checkout, the console scripts and the GLUE files are, and the tiny
run settings that keep a grid run to seconds."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GLUE = Path(os.environ.get("HIFI_GLUE_DIR") or ROOT.parent / "shared" / "glue")
needs_data = pytest.mark.skipif(not GLUE.is_dir(), reason="GLUE files not found (set HIFI_GLUE_DIR)")
TINY = dict(model="tiny-bert", max_train_samples=16, max_eval_samples=16, n_score_examples=16, epochs=1,
            batch_size=8, max_length=32, k=1, disable_tqdm=True)
