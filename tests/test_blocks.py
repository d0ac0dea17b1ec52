"""The fused path's unit blocks: grouping by fan-in, per-block CSR rows, regrouping, replication."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from nne_jax.blocks import regroup, unit_groups
from nne_jax.parallel import population_mesh, replicate
from nne_jax.weights import block_rows, row_blocks, select_columns, weight_generation


@pytest.fixture(scope="module")
def task():
    return nj.mlp_task(jax.random.PRNGKey(0), num_genes=150, beta=0.03, num_inputs=40, num_hidden=36, num_classes=4, density=0.25)


def csr_block(stack, i):
    """Block ``i`` of a stacked CSR matrix, dense, in NumPy."""
    ptr, idx, data = (np.asarray(a[i]) for a in (stack.indptr, stack.indices, stack.data))
    out = np.zeros((ptr.size - 1, stack.num_genes), np.float32)
    rows = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
    np.add.at(out, (rows, idx[: ptr[-1]]), data[: ptr[-1]])
    return out


def check_groups(arch, wg, groups, pad_to=8):
    """Every hidden unit exactly once; each block's CSR holds exactly W's rows for its units' kept
    slots (``K_g`` incoming, then ``C`` outgoing); only empty (padding) rows of W are left out."""
    dense = np.asarray(nj.dense_matrix(wg))
    k, c = arch.slots_per_unit, arch.num_classes
    fan_in = (np.asarray(arch.in_idx) < arch.num_inputs).sum(1)
    seen, prev_k = [], 0
    for g in groups:
        kg, rows_in, rows_out = g.slots_per_unit, np.asarray(g.rows_in), np.asarray(g.rows_out)
        units = rows_in[:, ::kg] // (k + c)  # (nb, hb)
        seen.extend(units.ravel())
        assert prev_k < kg <= k and (kg % pad_to == 0 or kg == k) and kg >= fan_in[units].max()
        prev_k = kg
        np.testing.assert_array_equal(np.asarray(g.in_idx), np.asarray(arch.in_idx)[units, :kg])
        np.testing.assert_array_equal(rows_in.reshape(*units.shape, kg), units[:, :, None] * (k + c) + np.arange(kg))
        np.testing.assert_array_equal(rows_out.reshape(*units.shape, c), units[:, :, None] * (k + c) + k + np.arange(c))
        for rows, stack in ((rows_in, g.wg_in), (rows_out, g.wg_out)):
            for i in range(rows.shape[0]):
                np.testing.assert_array_equal(csr_block(stack, i), dense[rows[i]])
    assert sorted(seen) == list(range(arch.num_hidden))
    kept = sum(int(np.asarray(w.indptr)[:, -1].sum()) for g in groups for w in (g.wg_in, g.wg_out))
    assert kept == int(np.asarray(wg.indptr)[-1])  # no nonzero of W is lost


@pytest.mark.parametrize("block_units,pad_to", [(1, 1), (4, 8), (8, 4), (12, 16), (36, 8)])
def test_groups_hold_every_unit_and_every_nonzero(task, block_units, pad_to):
    groups = unit_groups(task.arch, task.wg, block_units, pad_to)
    check_groups(task.arch, task.wg, groups, pad_to)
    assert all(g.block_units == max(u for u in range(1, block_units + 1) if 36 % u == 0) for g in groups)


def test_default_task_blocks(task):
    check_groups(task.arch, task.wg, task.blocks)


def test_paper_shape_trims_the_padding():
    """784 inputs at density 0.1: K = 112 slots per unit but mean fan-in 78.4; the groups need
    about 82 first-layer slots per unit, i.e. ~27 % fewer first-layer flops."""
    arch = nj.masked_mlp(jax.random.PRNGKey(0))
    wg = weight_generation(jax.random.PRNGKey(1), arch.num_slots, 4, 0.01, active_rows=arch.active)
    groups = unit_groups(arch, wg)
    mean_k = sum(g.num_units * g.slots_per_unit for g in groups) / arch.num_hidden
    fan_in = (np.asarray(arch.in_idx) < 784).sum(1).mean()
    assert arch.slots_per_unit == 112 and 78 < fan_in < 79
    assert fan_in < mean_k < 86 and 3 <= len(groups) <= 8


@pytest.mark.parametrize("k_cap", [None, 5])
@pytest.mark.parametrize("block_units,pad_to", [(1, 1), (6, 8), (36, 4)])
def test_fused_equals_dense_reference_for_any_grouping(task, k_cap, block_units, pad_to):
    arch = task.arch.replace(k_cap=k_cap)
    groups = unit_groups(arch, task.wg, block_units, pad_to)
    g = jax.random.bernoulli(jax.random.PRNGKey(2), 0.5, (11, 150)).astype(jnp.float32)
    x = jax.random.uniform(jax.random.PRNGKey(3), (6, 40))
    offset = jnp.where(jnp.asarray(arch.active), jax.random.normal(jax.random.PRNGKey(4), (arch.num_slots,)), 0.0)
    for off, gene_map in ((None, "identity"), (offset, "tanh")):
        ref = nj.population_logits(arch, task.wg, g, x, path="dense", offset=off, gene_map=gene_map)
        out = nj.population_logits(arch, task.wg, g, x, path="fused", blocks=groups, offset=off, gene_map=gene_map, pop_chunk=4)
        np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-4, atol=1e-4)


def test_block_rows_matches_dense_rows_and_checks_its_input():
    wg = weight_generation(jax.random.PRNGKey(5), 30, 20, 0.2)
    dense = np.asarray(nj.dense_matrix(wg))
    rows = np.array([[3, 0, 29, 3], [7, 8, 1, 2]])  # any order, repeats allowed
    stack = block_rows(wg, rows, length=200)
    assert stack.data.shape == (2, 200) and stack.indptr.shape == (2, 5)
    for i in range(2):
        np.testing.assert_array_equal(csr_block(stack, i), dense[rows[i]])
    np.testing.assert_array_equal(np.asarray(row_blocks(wg, 10).data), np.asarray(block_rows(wg, np.arange(30).reshape(3, 10)).data))
    with pytest.raises(ValueError, match="row indices"):
        block_rows(wg, np.array([[0, 30]]))
    with pytest.raises(ValueError, match="row indices"):
        block_rows(wg, np.arange(4))
    with pytest.raises(ValueError, match="length=1"):
        block_rows(wg, rows, length=1)
    with pytest.raises(ValueError, match="does not divide"):
        row_blocks(wg, 7)


def test_stale_blocks_are_refused(task):
    x, g = jnp.ones((2, 40)), jnp.ones((3, 150))
    other = nj.mlp_task(jax.random.PRNGKey(9), num_genes=120, beta=0.03, num_inputs=40, num_hidden=36, num_classes=4, density=0.25)
    with pytest.raises(ValueError, match="blocks do not match"):
        nj.population_logits(task.arch, task.wg, g, x, path="fused", blocks=other.blocks)  # W over 150 genes, blocks over 120
    with pytest.raises(ValueError, match="blocks do not match"):
        nj.population_logits(task.arch, task.wg, g, x, path="fused", blocks=task.blocks[:-1])  # units missing


def test_unit_groups_checks_its_input(task):
    with pytest.raises(ValueError, match="link slots"):
        unit_groups(task.arch, weight_generation(jax.random.PRNGKey(0), 10, 5, 0.5))
    with pytest.raises(ValueError, match="block_units"):
        unit_groups(task.arch, task.wg, block_units=0)


def test_regroup_over_fewer_columns(task):
    free = np.arange(0, 150, 3)
    wg = select_columns(task.wg, free)
    exact = regroup(task.blocks, wg)
    check_groups(task.arch, wg, exact)
    bucketed = regroup(task.blocks, wg, buckets=4)
    check_groups(task.arch, wg, bucketed)
    for full, g in zip(task.blocks, bucketed):
        for old, new in ((full.wg_in, g.wg_in), (full.wg_out, g.wg_out)):
            step = -(-old.data.shape[-1] // 4)
            assert new.data.shape[-1] <= old.data.shape[-1] and (new.data.shape[-1] % step == 0 or new.data.shape[-1] == old.data.shape[-1])


def test_replicate_puts_every_leaf_on_the_mesh(task):
    assert replicate(task, None) is task
    mesh = population_mesh()
    placed = replicate(task, mesh)
    for leaf in jax.tree.leaves(placed):
        assert leaf.sharding.is_fully_replicated and set(leaf.sharding.device_set) == set(mesh.devices.flat)
    x = jax.random.uniform(jax.random.PRNGKey(6), (3, 40))
    g = jnp.ones((2, 150))
    np.testing.assert_allclose(np.asarray(placed.population_logits(g, x)), np.asarray(task.population_logits(g, x)), rtol=1e-6)
