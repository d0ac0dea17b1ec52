"""nne_jax.task: the network-task interface the generation step, the runners and the evaluations rely on."""
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from nne_jax.evaluation import evaluate_allele_freqs
from nne_jax.run import make_run

D, C, N_GENES = 6, 3, 40


@flax.struct.dataclass
class LinearTask:
    """A user's own task: a linear classifier whose (D*C) weights are W x (no hidden layer)."""

    w: jax.Array  # (D*C, n)
    mesh: object = flax.struct.field(pytree_node=False, default=None)

    @property
    def num_genes(self) -> int:
        return self.w.shape[1]

    @property
    def num_inputs(self) -> int:
        return D

    def weights(self, genotypes):
        return genotypes @ self.w.T

    def forward(self, weights, inputs):
        return inputs @ weights.reshape(D, C)

    def population_logits(self, genotypes, inputs):
        return jax.vmap(lambda w: self.forward(w, inputs))(self.weights(genotypes))


def _data():
    x = jax.random.normal(jax.random.PRNGKey(1), (300, D))
    y = jnp.argmax(x[:, :C], axis=1).astype(jnp.int32)  # separable: the label is the largest of the first C inputs
    return x, y


def test_library_tasks_implement_the_interface():
    mlp = nj.mlp_task(jax.random.PRNGKey(0), N_GENES, num_inputs=D, num_hidden=4, num_classes=C)
    deep = nj.deep_task(jax.random.PRNGKey(0), N_GENES, hidden=(4, 4), beta=0.05, num_inputs=D, num_classes=C)
    assert isinstance(mlp, nj.NetworkTask) and isinstance(mlp, nj.CompactableTask)
    assert isinstance(deep, nj.NetworkTask) and not isinstance(deep, nj.CompactableTask)
    assert isinstance(LinearTask(jnp.zeros((D * C, N_GENES))), nj.NetworkTask)


def test_a_users_own_task_learns_through_every_runner():
    task = LinearTask(jax.random.uniform(jax.random.PRNGKey(0), (D * C, N_GENES), minval=-1, maxval=1))
    x, y = _data()
    nne = nj.NNE(num_genes=N_GENES, pop_size=32, eps=1.0, update_rule="multiplicative_weights",
                 fitness_shaping="standardize", antithetic=True)
    state0 = nne.init(jax.random.PRNGKey(2))
    before = evaluate_allele_freqs(task, state0.allele_freqs, x, y, jax.random.PRNGKey(3))["mean-weights"]
    state, _ = nj.run_generations(nne, task, state0, jax.random.PRNGKey(4), x, y, 40, batch_size=100,
                                  fitness_fn=nj.neg_cross_entropy)
    after = evaluate_allele_freqs(task, state.allele_freqs, x, y, jax.random.PRNGKey(3))["mean-weights"]
    assert after > before + 0.05, (before, after)
    scanned, metrics = jax.jit(make_run(nne, task, 40, data=(x, y), batch_size=100, fitness_fn=nj.neg_cross_entropy))(
        jax.random.PRNGKey(5), nne.default_params)
    assert metrics["mean_fitness"].shape == (40,) and bool(jnp.all(jnp.isfinite(scanned.allele_freqs)))


def test_a_task_missing_members_is_named():
    @flax.struct.dataclass
    class NoMesh:
        w: jax.Array

        def weights(self, g):
            return g

    nne = nj.NNE(num_genes=3, pop_size=4, eps=1.0)
    x, y = jnp.zeros((5, D)), jnp.zeros(5, jnp.int32)
    for call in (lambda: nj.run_generations(nne, NoMesh(jnp.zeros(3)), nne.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1),
                                            x, y, 2, batch_size=2),
                 lambda: nj.make_generation(nne, NoMesh(jnp.zeros(3))),
                 lambda: nj.check_task(NoMesh(jnp.zeros(3)))):
        with pytest.raises(TypeError, match=r"NoMesh is not a network task: it lacks \['num_genes', 'num_inputs', 'mesh', 'forward', "
                                            r"'population_logits'\]"):
            call()


def test_compacting_an_already_compacted_task_returns_it():
    mlp = nj.mlp_task(jax.random.PRNGKey(0), N_GENES, beta=0.2, num_inputs=D, num_hidden=4, num_classes=C, density=0.5)
    nne = nj.NNE(num_genes=N_GENES, pop_size=4, eps=1.0, fixation=0.05)
    state = nne.init(jax.random.PRNGKey(0), allele_freqs=jnp.where(jnp.arange(N_GENES) < 10, 0.01, 0.5))
    state = state.replace(fixed=jnp.arange(N_GENES) < 10)
    small = mlp.compact(state)
    assert small.genes is not None and small.compact(state) is small
    g = nne.ask(jax.random.PRNGKey(1), state)[0]
    xs = jax.random.normal(jax.random.PRNGKey(2), (5, D))
    np.testing.assert_allclose(small.population_logits(g, xs), mlp.population_logits(g, xs), rtol=1e-5, atol=1e-5)


def test_a_w_without_nonzeros_still_compacts():  # once a ZeroDivisionError in fixation._round_up
    empty = nj.mlp_task(jax.random.PRNGKey(0), N_GENES, num_inputs=D, num_hidden=4, num_classes=C)
    assert empty.wg.nnz == 0
    nne = nj.NNE(num_genes=N_GENES, pop_size=4, eps=1.0, fixation=0.05)
    state = nne.init(jax.random.PRNGKey(0)).replace(fixed=jnp.arange(N_GENES) < 10)
    assert empty.compact(state).wg.num_genes == N_GENES - 10
