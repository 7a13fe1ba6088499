"""Shared pytest fixtures: where the GLUE files and SAM splits are (env vars, else ../shared beside the repo)."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _data_dir(var, sub):
    d = Path(os.environ.get(var) or ROOT.parent / "shared" / sub)
    return d if d.is_dir() else None


@pytest.fixture(scope="session")
def glue_dir():
    d = _data_dir("HIFI_GLUE_DIR", "glue")
    if d is None:
        pytest.skip("no GLUE files: set HIFI_GLUE_DIR")
    return d


@pytest.fixture(scope="session")
def sam_dir():
    d = _data_dir("HIFI_SAM_DIR", "sam_splits")
    if d is None:
        pytest.skip("no SAM split files: set HIFI_SAM_DIR")
    return d
