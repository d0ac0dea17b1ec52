"""DNN (Section 3.2): plasticity rules by hand, no-op reading, k-cap, SignSGD, frozen layer, paths agree."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nne_jax import dnn

H3 = np.array([0.5, 0.0, 2.0], np.float32)  # hidden neuron 1 did not fire
PRE = np.array([1.0, 0.0, 1.0], np.float32)


def _upd(rule, h, z, label, **kw):
    return np.asarray(dnn.rule_update(rule, jnp.asarray(h), jnp.log(jnp.asarray(z, jnp.float32)), label, **kw))


# ---------------------------------------------------------------- rules against hand computation
def test_rules_two_classes_correct_prediction():
    # z = (0.25, 0.75), label 1: e = (0.25, -0.25), e² = 1/16 each, L = -ln 0.75 = 0.288 <= ε0
    z, y = [0.25, 0.75], 1
    np.testing.assert_allclose(_upd("formula", H3, z, y), np.zeros((3, 2)), atol=1e-7)
    np.testing.assert_allclose(_upd("prose", H3, z, y), np.outer(PRE, [1, 1]), atol=1e-6)
    np.testing.assert_allclose(_upd("prose-argmax", H3, z, y), np.outer(PRE, [0, 1]), atol=1e-6)
    np.testing.assert_allclose(_upd("signed", H3, z, y), np.outer(PRE, [3 / 16, 3 / 16]), atol=1e-6)
    np.testing.assert_allclose(_upd("signed-argmax", H3, z, y), np.outer(PRE, [0, 3 / 16]), atol=1e-6)
    np.testing.assert_allclose(_upd("signed-threshold", H3, z, y), np.outer(PRE, [0, 3 / 16]), atol=1e-6)
    np.testing.assert_allclose(_upd("perceptron", H3, z, y), np.outer(PRE, [0, 3 / 16]), atol=1e-6)
    # presynaptic "rate" and ε1 scale the update
    np.testing.assert_allclose(
        _upd("signed-argmax", H3, z, y, pre="rate", params=dnn.RuleParams(eps1=2.0)), np.outer(H3, [0, 6 / 16]), atol=1e-6
    )


def test_rules_three_classes_mistake():
    # z = (0.2, 0.7, 0.1), label 0: e = (-0.8, 0.7, 0.1), e² = (0.64, 0.49, 0.01), L = ln 5 > ε0
    z, y = [0.2, 0.7, 0.1], 0
    np.testing.assert_allclose(_upd("formula", H3, z, y), np.outer(PRE, [0, 0, 1]), atol=1e-6)  # raises a wrong class
    np.testing.assert_allclose(_upd("formula-argmax", H3, z, y), np.zeros((3, 3)), atol=1e-7)
    np.testing.assert_allclose(_upd("prose", H3, z, y), np.zeros((3, 3)), atol=1e-7)
    np.testing.assert_allclose(_upd("signed", H3, z, y), np.outer(PRE, [-0.39, -0.24, 0.24]), atol=1e-6)
    np.testing.assert_allclose(_upd("signed-argmax", H3, z, y), np.outer(PRE, [0, -0.24, 0]), atol=1e-6)
    np.testing.assert_allclose(_upd("signed-threshold", H3, z, y), np.outer(PRE, [0, -0.24, 0]), atol=1e-6)
    np.testing.assert_allclose(_upd("perceptron", H3, z, y), np.outer(PRE, [0.39, -0.24, 0]), atol=1e-6)
    # ε0 is the loss threshold: with ε0 = 2 > L = 1.609 the formula reading no longer fires, prose does
    p = dnn.RuleParams(eps0=2.0)
    np.testing.assert_allclose(_upd("formula", H3, z, y, params=p), np.zeros((3, 3)), atol=1e-7)
    np.testing.assert_allclose(_upd("prose", H3, z, y, params=p), np.outer(PRE, [0, 0, 1]), atol=1e-6)


def test_prose_reading_is_a_noop_when_it_fires():
    """z_y > 1/2 -> every e_j² < 1/4 and L < ε0: the same change for every j, softmax unchanged."""
    key = jax.random.PRNGKey(0)
    h, c = 40, 10
    w = jax.random.normal(key, (h, c)) * 0.1
    b = jnp.zeros(c)
    hx = jax.nn.relu(jax.random.normal(jax.random.PRNGKey(1), (h,)))
    w = w.at[:, 3].add(hx / jnp.sum(hx * hx) * 5.0)  # make class 3 confident on hx
    z = jax.nn.softmax(hx @ w + b)
    assert z[3] > 0.5
    dw = dnn.rule_update("prose", hx, hx @ w + b, 3)
    assert float(jnp.abs(dw).sum()) > 0  # it does change the weights ...
    probes = jax.nn.relu(jax.random.normal(jax.random.PRNGKey(2), (50, h)))
    np.testing.assert_allclose(jax.nn.softmax(probes @ (w + dw) + b), jax.nn.softmax(probes @ w + b), atol=1e-5)  # ... not the net
    # and from a near-uniform start (L ~ ln 10 > ε0 everywhere) it never fires at all
    feats = jax.nn.relu(jax.random.normal(jax.random.PRNGKey(3), (60, h)))
    labels = jnp.arange(60) % c
    ro = dnn.init_readout(jax.random.PRNGKey(4), h, c)
    ro2, m = dnn.train_dnn(ro, feats, labels, key, rule="prose", num_epochs=3)
    np.testing.assert_array_equal(np.asarray(ro2.w), np.asarray(ro.w))
    assert float(m.update_fraction.max()) == 0.0


# ---------------------------------------------------------------- model: init, k-cap, frozen layer
def test_torch_default_init_bounds():
    layer = dnn.init_hidden(jax.random.PRNGKey(0), 784, 2000)
    bound = 1 / 28
    assert dnn.torch_linear_bound(784) == pytest.approx(bound)
    for a in (layer.w, layer.b):
        a = np.asarray(a)
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    assert abs(float(jnp.std(layer.w)) - bound / math.sqrt(3)) < 1e-3  # U(-a, a) has std a/√3


def test_k_cap_keeps_exactly_k():
    a = jax.random.normal(jax.random.PRNGKey(0), (7, 50))
    capped = dnn.k_cap(a, 5)
    np.testing.assert_array_equal(np.asarray((capped != 0).sum(-1)), 5)
    np.testing.assert_allclose(np.sort(np.asarray(capped), -1)[:, -5:], np.sort(np.asarray(a), -1)[:, -5:])
    ties = dnn.k_cap(jnp.ones((3, 10)), 4)  # ties: still exactly k survive
    np.testing.assert_array_equal(np.asarray((ties != 0).sum(-1)), 4)
    layer = dnn.init_hidden(jax.random.PRNGKey(1), 20, 100, k_cap=8)
    x = jax.random.uniform(jax.random.PRNGKey(2), (6, 20))
    dense = dnn.hidden_features(layer, x)
    assert int(jnp.max((dense > 0).sum(-1))) <= 8
    idx, vals = dnn.sparse_features(layer, x)
    assert idx.shape == vals.shape == (6, 8)
    np.testing.assert_allclose(np.take_along_axis(np.asarray(dense), np.asarray(idx), -1), np.asarray(vals))
    np.testing.assert_array_equal(
        np.asarray(dnn.sparse_from_dense(dnn.hidden_features(layer.replace(k_cap=None), x), 8)[0]), np.asarray(idx)
    )


def test_frozen_layer_stays_frozen():
    key = jax.random.PRNGKey(0)
    layer = dnn.init_hidden(key, 30, 64)
    w0, b0 = np.array(layer.w), np.array(layer.b)
    x = jax.random.uniform(jax.random.PRNGKey(1), (40, 30))
    y = jnp.arange(40) % 4
    feats = dnn.hidden_features(layer, x)
    ro = dnn.init_readout(jax.random.PRNGKey(2), 64, 4)
    ro_dnn, _ = dnn.train_dnn(ro, feats, y, key, rule="perceptron", num_epochs=3)
    opt = optax.adam(1e-2)
    (ro_adam, _), _ = dnn.train_readout(ro, opt.init(ro), feats, y, key, optimizer=opt, num_epochs=3, batch_size=10)
    np.testing.assert_array_equal(np.asarray(layer.w), w0)
    np.testing.assert_array_equal(np.asarray(layer.b), b0)
    np.testing.assert_array_equal(np.asarray(dnn.hidden_features(layer, x)), np.asarray(feats))
    assert not np.allclose(np.asarray(ro_dnn.w), np.asarray(ro.w)) and not np.allclose(np.asarray(ro_adam.w), np.asarray(ro.w))
    np.testing.assert_array_equal(np.asarray(ro_dnn.b), np.asarray(ro.b))  # the rule has no presynaptic neuron for b
    # the trainers only ever see features; streamed evaluation through the same layer agrees
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), ro_dnn, ro_adam)
    acc = dnn.evaluate_readouts(layer, stacked, x, y, chunk=16)
    np.testing.assert_allclose(np.asarray(acc), [float(dnn.accuracy(ro_dnn, feats, y)), float(dnn.accuracy(ro_adam, feats, y))], atol=1e-6)


# ---------------------------------------------------------------- baselines
def test_signsgd_moves_each_weight_by_exactly_eps_or_zero():
    eps = 2.0**-8
    feats = np.random.default_rng(0).random((20, 12)) * (np.random.default_rng(1).random((20, 12)) > 0.5)
    feats[:, 5] = 0.0  # hidden unit 5 never fires in this batch
    feats = jnp.asarray(feats, jnp.float32)
    y = jnp.arange(20) % 3
    ro = dnn.init_readout(jax.random.PRNGKey(0), 12, 3)
    opt = dnn.sign_sgd(eps)
    (ro1, _), _ = dnn.train_readout(ro, opt.init(ro), feats, y, jax.random.PRNGKey(1), optimizer=opt, num_epochs=1, batch_size=20)
    delta = np.asarray(ro1.w - ro.w)
    assert np.all(np.isclose(np.abs(delta), eps, rtol=0, atol=1e-8) | (delta == 0))
    z = jax.nn.softmax(feats @ ro.w + ro.b)
    grad = np.asarray(feats.T @ (z - jax.nn.one_hot(y, 3)))  # equation 4: sign((z_j - ℓ_j) h_i), summed over the batch
    np.testing.assert_array_equal(np.sign(delta), -np.sign(grad))
    np.testing.assert_array_equal(delta[5], 0.0)  # a hidden unit that never fired does not move


# ---------------------------------------------------------------- equivalences
def _toy(n=30, h=50, c=4, seed=0):
    k = jax.random.split(jax.random.PRNGKey(seed), 3)
    layer = dnn.init_hidden(k[0], 16, h)
    x = jax.random.uniform(k[1], (n, 16))
    return layer, dnn.hidden_features(layer, x) * 20.0, jnp.arange(n) % c, dnn.init_readout(k[2], h, c)


@pytest.mark.parametrize("rule", ["perceptron", "signed-argmax", "formula"])
def test_dual_path_equals_primal(rule):
    _, feats, y, ro = _toy()
    key = jax.random.PRNGKey(5)
    ro_p, m_p = dnn.train_dnn(ro, feats, y, key, rule=rule, num_epochs=3, params=dnn.RuleParams(eps1=0.05))
    prob = dnn.dual_problem(ro, feats)
    coef, m_d = dnn.train_dnn_dual(prob, jnp.zeros((30, 4)), y, key, rule=rule, num_epochs=3, params=dnn.RuleParams(eps1=0.05))
    np.testing.assert_allclose(np.asarray(dnn.dual_readout(ro, feats, coef).w), np.asarray(ro_p.w), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(m_d.train_accuracy), np.asarray(m_p.train_accuracy))


def test_sparse_kcap_path_equals_dense_and_resume_is_exact():
    layer, feats, y, ro = _toy()
    capped = dnn.k_cap(feats, 7)
    sparse = dnn.sparse_from_dense(feats, 7)
    key = jax.random.PRNGKey(3)
    ro_d, _ = dnn.train_dnn(ro, capped, y, key, rule="perceptron", num_epochs=4, params=dnn.RuleParams(eps1=0.1))
    ro_s, _ = dnn.train_dnn(ro, sparse, y, key, rule="perceptron", num_epochs=4, params=dnn.RuleParams(eps1=0.1))
    np.testing.assert_allclose(np.asarray(ro_s.w), np.asarray(ro_d.w), rtol=1e-5, atol=1e-5)
    half, _ = dnn.train_dnn(ro, sparse, y, key, rule="perceptron", num_epochs=2, params=dnn.RuleParams(eps1=0.1))
    resumed, _ = dnn.train_dnn(half, sparse, y, key, rule="perceptron", num_epochs=2, start_epoch=2, params=dnn.RuleParams(eps1=0.1))
    np.testing.assert_array_equal(np.asarray(resumed.w), np.asarray(ro_s.w))
    opt = optax.adam(1e-2)
    (full, _), _ = dnn.train_readout(ro, opt.init(ro), feats, y, key, optimizer=opt, num_epochs=4, batch_size=5)
    (r2, s2), _ = dnn.train_readout(ro, opt.init(ro), feats, y, key, optimizer=opt, num_epochs=2, batch_size=5)
    (r4, _), _ = dnn.train_readout(r2, s2, feats, y, key, optimizer=opt, num_epochs=2, batch_size=5, start_epoch=2)
    np.testing.assert_array_equal(np.asarray(r4.w), np.asarray(full.w))


def test_custom_rule_by_name():
    def anti_hebb(z, onehot, loss, params):
        return -params.eps1 * onehot

    dnn.register_rule("test-anti-label", anti_hebb, overwrite=True)
    _, feats, y, ro = _toy()
    ro2, _ = dnn.train_dnn(ro, feats, y, jax.random.PRNGKey(0), rule="test-anti-label", num_epochs=1, params=dnn.RuleParams(eps1=0.5))
    expected = ro.w - 0.5 * (feats > 0).astype(jnp.float32).T @ jax.nn.one_hot(y, 4)
    np.testing.assert_allclose(np.asarray(ro2.w), np.asarray(expected), atol=1e-5)
    with pytest.raises(ValueError, match="already registered"):
        dnn.register_rule("test-anti-label", anti_hebb)
    del dnn.RULES["test-anti-label"]


# ---------------------------------------------------------------- bad input
def test_bad_input_raises_value_error():
    layer, feats, y, ro = _toy()
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="unknown plasticity rule 'nope'"):
        dnn.train_dnn(ro, feats, y, key, rule="nope", num_epochs=1)
    with pytest.raises(ValueError, match="unknown presynaptic"):
        dnn.train_dnn(ro, feats, y, key, rule="perceptron", num_epochs=1, pre="spike")
    with pytest.raises(ValueError, match="features must be"):
        dnn.train_dnn(ro, feats[:, :10], y, key, rule="perceptron", num_epochs=1)
    with pytest.raises(ValueError, match="labels must be"):
        dnn.train_dnn(ro, feats, y[:5], key, rule="perceptron", num_epochs=1)
    with pytest.raises(ValueError, match="labels must lie"):
        dnn.train_dnn(ro, feats, y + 10, key, rule="perceptron", num_epochs=1)
    with pytest.raises(ValueError, match="num_epochs"):
        dnn.train_dnn(ro, feats, y, key, rule="perceptron", num_epochs=0)
    with pytest.raises(ValueError, match="inputs must be"):
        dnn.hidden_features(layer, jnp.zeros((3, 17)))
    with pytest.raises(ValueError, match="k_cap"):
        dnn.init_hidden(key, 16, 10, k_cap=11)
    with pytest.raises(ValueError, match="unknown optimizer"):
        dnn.make_optimizer("rmsprop", 1e-3)
    with pytest.raises(ValueError, match="batch_size"):
        opt = optax.adam(1e-3)
        dnn.train_readout(ro, opt.init(ro), feats, y, key, optimizer=opt, num_epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="coef"):
        dnn.train_dnn_dual(dnn.dual_problem(ro, feats), jnp.zeros((3, 4)), y, key, rule="perceptron", num_epochs=1)
    with pytest.raises(ValueError, match="h must be"):
        dnn.rule_update("perceptron", feats, jnp.zeros(4), 0)


# ---------------------------------------------------------------- MNIST (needs $NNE_DATA_DIR)
@pytest.mark.skipif(not os.environ.get("NNE_DATA_DIR"), reason="set NNE_DATA_DIR to the MNIST IDX files")
def test_table2_quick_on_mnist(tmp_path):
    import json

    from experiments import table2

    table2.main(
        ["--quick", "--h", "300", "--out", str(tmp_path), "--models", "SGD", "DNN", "--variants", "perceptron", "prose", "minibatch"]
    )
    rows = {r["model"]: r for r in json.loads((tmp_path / "quick" / "summary.json").read_text())}
    assert set(rows) == {"SGD", "DNN:perceptron", "DNN:prose", "DNN:minibatch"}
    assert {
        "model",
        "reading",
        "h",
        "k_cap",
        "test_accuracy",
        "std",
        "std_kind",
        "seeds",
        "seed_list",
        "epochs",
        "train_size",
        "train_set",
        "wall_seconds",
        "device",
        "command",
        "git_commits",
    } <= set(rows["SGD"])
    assert rows["DNN:perceptron"]["reading"] == "DNN (our perceptron-like reading)"
    assert rows["DNN:minibatch"]["reading"].startswith("DNN (introduction's per-minibatch reading")
    assert 0 <= rows["DNN:minibatch"]["test_accuracy"] <= 100
    assert rows["SGD"]["test_accuracy"] > 50 and rows["DNN:perceptron"]["test_accuracy"] > 40
    assert rows["DNN:prose"]["test_accuracy"] < 20  # never fires from the near-uniform start
    table2.main(
        ["--quick", "--h", "300", "--out", str(tmp_path), "--models", "SGD", "DNN", "--variants", "perceptron", "prose", "minibatch"]
    )  # all done: no-op
    assert json.loads((tmp_path / "quick" / "summary.json").read_text())[0]["seeds"] == 1
    pytest.importorskip("matplotlib")  # the figure is optional (matplotlib is an `experiments` extra)
    assert (tmp_path / "quick" / "table2.png").stat().st_size > 0


def test_table2_checkpoints_use_the_library_format_and_refuse_another_runs(tmp_path):
    import optax

    from experiments import table2
    from nne_jax.checkpoint import ConfigMismatchError, list_checkpoints

    ro = dnn.Readout(jnp.arange(6.0).reshape(3, 2), jnp.ones(2))
    opt = optax.adam(1e-3)
    fresh = {"epoch": 0, "wall": 0.0, **{k: [] for k in table2._CURVES}, "w": ro.w, "b": ro.b, "opt": opt.init(ro)}
    state = dict(fresh, epoch=4, wall=2.5, curve_epoch=[0, 4], curve_acc=[10.0, 55.5], loss=[1.0, 0.5],
                 w=ro.w + 1, opt=jax.tree_util.tree_map(lambda x: x + 3, fresh["opt"]))
    config = {"name": "SGD", "h": 30, "seed": 0}
    table2._save_ckpt(tmp_path / "c", state, config)
    assert [p.name for p in list_checkpoints(tmp_path / "c")] == ["ckpt_0000000004.msgpack"]
    back = table2._load_ckpt(tmp_path / "c", config, fresh)
    assert back["epoch"] == 4 and back["wall"] == 2.5 and back["curve_acc"] == [10.0, 55.5] and back["train_acc"] == []
    np.testing.assert_array_equal(back["w"], ro.w + 1)
    for a, b in zip(jax.tree_util.tree_leaves(back["opt"]), jax.tree_util.tree_leaves(state["opt"]), strict=True):
        np.testing.assert_array_equal(a, b)
    assert jax.tree_util.tree_structure(back["opt"]) == jax.tree_util.tree_structure(fresh["opt"])
    assert table2._load_ckpt(tmp_path / "none", config, fresh) is None
    with pytest.raises(ConfigMismatchError, match="seed"):
        table2._load_ckpt(tmp_path / "c", {**config, "seed": 1}, fresh)



@pytest.mark.skipif(not os.environ.get("NNE_DATA_DIR"), reason="set NNE_DATA_DIR to the MNIST IDX files")
def test_table2_budget_stops_every_model_at_the_same_epoch_and_the_rerun_resumes(tmp_path, monkeypatch):
    import json
    import types

    from experiments import table2

    argv = ["--quick", "--h", "50", "--out", str(tmp_path), "--models", "SGD", "DNN", "--variants", "perceptron", "--chunk", "1"]
    runs_dir = tmp_path / "quick" / "runs"
    table2.main([*argv, "--budget-seconds", "0"])  # spent before the first round: nothing trained, nothing written
    assert not runs_dir.exists() or not list(runs_dir.glob("*.json"))

    # a clock that jumps past any budget as soon as the first model has trained one chunk
    advance, jumped = table2.Model.advance, []

    def advance_then_jump(self, num_epochs):
        advance(self, num_epochs)
        jumped.append(num_epochs)

    monkeypatch.setattr(table2.Model, "advance", advance_then_jump)
    monkeypatch.setattr(table2, "time", types.SimpleNamespace(perf_counter=lambda: 1e9 * len(jumped)))
    table2.main([*argv, "--budget-seconds", "100"])
    runs = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*.json"))]
    # round one finishes for both models (same epoch), then no new round starts
    assert [(r["model"], r["epochs"], r["target_epochs"], r["stopped_by_budget"]) for r in runs] == [
        ("DNN:perceptron", 1, 4, True),
        ("SGD", 1, 4, True),
    ]
    monkeypatch.undo()
    table2.main(argv)  # no budget: the same command resumes both from their checkpoints to the target
    runs = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*.json"))]
    assert [(r["epochs"], r["stopped_by_budget"], r["curve_epoch"]) for r in runs] == [(4, False, [0, 1, 2, 3, 4])] * 2


def test_table2_stream_epoch_visits_every_example_once_with_its_own_features():
    import types

    from experiments import table2

    n, h, block = 23, 7, 5
    layer = dnn.init_hidden(jax.random.PRNGKey(1), 4, h)
    images = np.asarray(jax.random.uniform(jax.random.PRNGKey(2), (n, 4)))
    labels = np.arange(n) % 3  # label i % 3 identifies nothing; rows are recovered through the features
    ctx = {"n": n, "labels": labels, "train_key": jax.random.PRNGKey(3), "layer": layer, "images": images}

    class Fake:
        def __init__(self, k_cap):
            self.spec, self.seen, self.logged = types.SimpleNamespace(k_cap=k_cap), [], None

        def advance_block(self, feats, block_labels, key):
            self.seen.append((feats, block_labels))
            size = len(block_labels)
            return dnn.EpochMetrics(jnp.full((1,), size / 10), jnp.ones(1), jnp.ones(1)), 0.5

        def log_epochs(self, metrics, num_epochs, seconds):
            self.logged = (metrics, num_epochs, seconds)

    dense_model, sparse_model = Fake(None), Fake(3)
    feat_seconds = table2.stream_epoch([dense_model, sparse_model], ctx, epoch=4, block=block)
    perm = np.asarray(jax.random.permutation(jax.random.fold_in(ctx["train_key"], 4), n))
    assert [len(lab) for _, lab in dense_model.seen] == [5, 5, 5, 5, 3]
    got = np.concatenate([np.asarray(f) for f, _ in dense_model.seen])
    np.testing.assert_allclose(got, np.asarray(dnn.hidden_features(layer, images[perm])), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.concatenate([lab for _, lab in dense_model.seen]), labels[perm])
    idx = np.concatenate([np.asarray(f[0]) for f, _ in sparse_model.seen])  # k-capped features of the same rows
    np.testing.assert_array_equal(idx, np.asarray(dnn.sparse_from_dense(dnn.hidden_features(layer, images[perm]), 3)[0]))
    metrics, num_epochs, seconds = dense_model.logged
    assert num_epochs == 1 and np.isclose(seconds, 5 * 0.5 + feat_seconds / 2)
    assert np.isclose(metrics.train_accuracy, (4 * 5 * 0.5 + 3 * 0.3) / 23)  # block means weighted by block size
