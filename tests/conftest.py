import os
import pathlib

import pytest
from hypothesis import settings

# Shared CPU runners make timings noisy: no per-example deadline, and a fixed example sequence
# so that a CI run is repeatable (per-test @settings override only what they name).
settings.register_profile("seqkeras", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("seqkeras")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
EWT_DIR = REPO.parent / "shared" / "data" / "ud-english-ewt"


@pytest.fixture(scope="session")
def ewt_dir():
    """UD English EWT CoNLL-U files shipped beside the checkout (see ../shared/DATA.md)."""
    if not (EWT_DIR / "en_ewt-ud-train.conllu.gz").exists():
        pytest.skip(f"UD English EWT not found at {EWT_DIR}")
    return EWT_DIR
