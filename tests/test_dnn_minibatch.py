"""The introduction's per-minibatch DNN reading (nne_jax.dnn.minibatch): by hand, training loop, errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nne_jax import dnn

# 3 examples, 3 hidden neurons, 2 classes. Hidden 2 never fires.
H = np.array([[1.0, 0.0, 0.0], [0.5, 2.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
LOGITS = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]], np.float32)  # predictions 0, 1, 0
LABELS = np.array([0, 1, 1])  # one mistake in three: err = 1/3, dopamine = 1/4 - 1/9 = 5/36


def test_minibatch_update_by_hand():
    d = 0.25 - 1 / 9
    # co-firing: hidden 0 with out 0 (ex 0) and out 1 (ex 1); hidden 1 with out 1 (ex 1) and out 0 (ex 2)
    any_ = np.array([[1, 1], [1, 1], [0, 0]], np.float32) * d
    np.testing.assert_allclose(dnn.minibatch_update(H, LOGITS, LABELS), any_, atol=1e-6)
    count = np.array([[1, 1], [1, 1], [0, 0]], np.float32) / 3 * d
    np.testing.assert_allclose(dnn.minibatch_update(H, LOGITS, LABELS, cofire="count"), count, atol=1e-6)
    every = np.array([[2, 2], [2, 2], [0, 0]], np.float32) / 3 * d  # all outputs fire on every example
    np.testing.assert_allclose(dnn.minibatch_update(H, LOGITS, LABELS, fired="all", cofire="count"), every, atol=1e-6)
    rate = np.array([[1.0, 0.5], [1.0, 2.0], [0, 0]], np.float32) / 3 * d  # pre = h itself
    np.testing.assert_allclose(dnn.minibatch_update(H, LOGITS, LABELS, pre="rate", cofire="count"), rate, atol=1e-6)
    # a minibatch that is mostly wrong punishes: err = 2/3 -> 1/4 - 4/9 < 0
    bad = dnn.minibatch_update(H, LOGITS, np.array([1, 1, 1]), dnn.RuleParams(eps1=2.0))
    np.testing.assert_allclose(bad, np.array([[1, 1], [1, 1], [0, 0]]) * 2 * (0.25 - 4 / 9), atol=1e-6)


def test_train_dnn_minibatch_matches_a_python_loop_and_resumes():
    key = jax.random.PRNGKey(0)
    feats = jax.nn.relu(jax.random.normal(jax.random.PRNGKey(1), (40, 16)))
    labels = np.asarray(jnp.arange(40) % 3)
    ro = dnn.init_readout(jax.random.PRNGKey(2), 16, 3)
    got, metrics = dnn.train_dnn_minibatch(ro, feats, labels, key, num_epochs=2, batch_size=8, cofire="count")
    w = np.asarray(ro.w)
    for e in range(2):
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, e), 40))
        for idx in perm.reshape(5, 8):
            logits = np.asarray(feats)[idx] @ w + np.asarray(ro.b)
            w = w + np.asarray(dnn.minibatch_update(np.asarray(feats)[idx], logits, labels[idx], cofire="count"))
    np.testing.assert_allclose(np.asarray(got.w), w, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(got.b), np.asarray(ro.b))
    assert metrics.train_accuracy.shape == (2,) and 0 <= float(metrics.train_accuracy[0]) <= 1
    half, _ = dnn.train_dnn_minibatch(ro, feats, labels, key, num_epochs=1, batch_size=8, cofire="count")
    resumed, _ = dnn.train_dnn_minibatch(half, feats, labels, key, num_epochs=1, batch_size=8, cofire="count",
                                         start_epoch=1)
    np.testing.assert_allclose(np.asarray(resumed.w), np.asarray(got.w), atol=1e-6)


def test_train_dnn_minibatch_errors():
    ro = dnn.init_readout(jax.random.PRNGKey(2), 4, 2)
    feats, labels, key = jnp.ones((6, 4)), np.array([0, 1] * 3), jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="output firing"):
        dnn.train_dnn_minibatch(ro, feats, labels, key, num_epochs=1, fired="winner")
    with pytest.raises(ValueError, match="co-firing"):
        dnn.train_dnn_minibatch(ro, feats, labels, key, num_epochs=1, cofire="all")
    with pytest.raises(ValueError, match="batch_size"):
        dnn.train_dnn_minibatch(ro, feats, labels, key, num_epochs=1, batch_size=7)
    with pytest.raises(ValueError, match="dense"):
        dnn.train_dnn_minibatch(ro, (jnp.zeros((6, 2), jnp.int32), jnp.ones((6, 2))), labels, key, num_epochs=1)


def test_table2_variants_readings_and_training_set_files(tmp_path):
    from experiments import table2

    spec = table2.parse_variant("minibatch-count-all@0.5", None)
    assert (spec.kind, spec.rule, spec.eps1) == ("dnn_mb", "minibatch-count-all", 0.5)
    assert table2._minibatch_options(spec.rule) == {"cofire": "count", "fired": "all"}
    with pytest.raises(ValueError, match="per-minibatch"):
        table2.parse_variant("minibatch-sum", None)
    with pytest.raises(ValueError, match="k-cap"):
        table2.parse_variant("minibatch", 256)
    assert table2.reading("DNN:perceptron@0.01/rate") == "DNN (our perceptron-like reading)"
    assert table2.reading("SGD") == "SGD" and "ours" in table2.reading("DNN:punish")
    sgd = table2.Spec("SGD", "adam")
    assert table2._run_path(tmp_path, sgd, 1000, 0).name == "SGD_h1000_kNone_s0.json"  # existing 200-per-digit names
    assert table2._run_path(tmp_path, sgd, 1000, 0, per_class=0).name == "SGD_h1000_kNone_s0_full.json"
    assert "assumption" in table2.TRAIN_SET[200]
