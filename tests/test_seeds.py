"""nne_jax.seeds: one place for the random streams around a run (their offsets keep old results reproducible)."""
import jax
import numpy as np
import pytest

from nne_jax.seeds import STREAM_OFFSETS, stream_key


def test_streams_keep_the_offsets_the_committed_results_were_made_with():
    assert STREAM_OFFSETS == {"signsgd": 20_000, "sgd": 30_000, "evaluation": 40_000, "peer_init": 50_000,
                              "peer_run": 60_000, "ceiling": 70_000}
    np.testing.assert_array_equal(stream_key("evaluation", 3), jax.random.PRNGKey(40_003))
    assert len(set(STREAM_OFFSETS.values())) == len(STREAM_OFFSETS)  # purposes never share a stream


def test_unknown_stream_is_named():
    with pytest.raises(ValueError, match="unknown random stream 'eval'; choose from"):
        stream_key("eval", 0)
