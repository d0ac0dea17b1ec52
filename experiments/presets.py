"""The paper's reference numbers; the run presets themselves live in :mod:`nne_jax.config`."""
from nne_jax.config import PRESETS, RunConfig

__all__ = ["PAPER_TABLE1", "PRESETS", "RunConfig"]

# The paper's Table 1 (test accuracy, %). NNE+SignSGD on 0-9: the table says 85.6, the text 86.3.
PAPER_TABLE1 = {
    "0-4": {"NNE": 92.1, "NNE+SignSGD": 91.6, "SGD": 96.0},
    "0-9": {"NNE": 78.8, "NNE+SignSGD": 85.6, "SGD": 88.2},
}
