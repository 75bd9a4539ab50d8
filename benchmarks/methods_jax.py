"""The JAX ways to train many lanes: jaxgd.sweep and the ways people do it with optax today.

Each ``prepare_*`` returns ``(run, lanes_measured)``: ``run()`` trains the lanes
and returns the final whole-data loss of each measured lane (a NumPy array).
``lanes_measured`` < the requested lanes means the method is too slow to run
them all; its time is extrapolated linearly (and labelled so).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxgd
from jaxgd.train import epoch_order

from .workloads import KEY, Workload, data_key, start_params


def _batch(workload: Workload, data, order, t):
    """The batch of update t: the whole data, or slice t of the epoch's permutation."""
    x, y = data
    if workload.batch_size is None:
        return x, y
    k = workload.batch_size
    per_epoch = x.shape[0] // k
    index = jax.lax.dynamic_slice_in_dim(order, (t % per_epoch) * k, k)
    return x[index], y[index]


def _optax_run(workload: Workload, problem, make_optimizer, record: bool = True):
    """One lane as a function of (params, lr, key): lax.scan over the updates inside.

    It returns the final whole-data loss and, with ``record``, the loss of every update
    (else None: the loop then carries no history at all).
    """
    loss_fn, data = problem.loss_fn, problem.data
    n = data[0].shape[0]
    per_epoch = n // workload.batch_size if workload.batch_size else 1

    def run(params, lr, key):
        opt = make_optimizer(lr)
        state = opt.init(params)
        order = epoch_order(key, 0, n) if workload.batch_size else jnp.zeros((0,), jnp.int32)

        def step(carry, t):
            params, state, order = carry
            if workload.batch_size:
                order = jax.lax.cond(
                    t % per_epoch == 0, lambda: epoch_order(key, t // per_epoch, n), lambda: order
                )
            xb, yb = _batch(workload, data, order, t)
            loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
            updates, state = opt.update(grads, state, params)
            return (optax.apply_updates(params, updates), state, order), loss if record else None

        ts = jnp.arange(workload.steps, dtype=jnp.int32)
        (params, _, _), losses = jax.lax.scan(step, (params, state, order), ts)
        return problem.loss_fn(params, *data), losses

    return run


def _optax_optimizer(workload: Workload):
    return getattr(optax, workload.optimizer)


def prepare_jaxgd(workload: Workload, n_lanes: int):
    problem = workload.make_problem()
    factory = getattr(jaxgd.optim, workload.optimizer)
    rates = [float(r) for r in workload.learning_rates(n_lanes)]

    def run():
        # seeds=1: every lane starts from init_fn(lane_keys(KEY, 0)[0]) = start_params(problem)
        # and orders its data with lane_keys(KEY, 0)[1] = data_key(), as the other methods do.
        result = jaxgd.sweep(
            problem.loss_fn,
            problem.init_fn,
            problem.data,
            factory,
            grid={"learning_rate": rates},
            steps=workload.steps,
            batch_size=workload.batch_size,
            key=KEY,
            progress=False,
        )
        return result.final_loss

    return run, n_lanes


def prepare_optax_loop(workload: Workload, n_lanes: int, record: bool = True):
    """A Python loop over lanes, each a jitted optax run (learning rate as an argument),
    recording the loss of every update."""
    problem = workload.make_problem()
    run_one = jax.jit(_optax_run(workload, problem, _optax_optimizer(workload), record))
    params, key = start_params(problem), data_key()
    rates = workload.learning_rates(n_lanes)

    def run():
        finals = [run_one(params, jnp.float32(lr), key)[0] for lr in rates]
        return np.asarray(jax.block_until_ready(finals))

    return run, n_lanes


def prepare_optax_loop_final(workload: Workload, n_lanes: int):
    """The same loop, each run keeping only its final loss (no history: cheaper to run)."""
    return prepare_optax_loop(workload, n_lanes, record=False)


def prepare_columns(workload: Workload, n_lanes: int):
    """Géron's notebook model by hand, every lane a column: Θ [2, lanes], R = X_b Θ − y,
    ∇ = (2/m) X_bᵀ R; the loss of every update recorded. Only for U1 (the hand-written bound)."""
    if workload.name != "U1":
        return None
    problem = workload.make_problem()
    x_b, y = problem.data
    theta0 = start_params(problem)
    rates = jnp.asarray(workload.learning_rates(n_lanes))
    m = x_b.shape[0]

    @jax.jit
    def columns(rates):
        def step(theta, _):
            residual = x_b @ theta - y
            return theta - rates * (2.0 / m) * (x_b.T @ residual), jnp.mean(residual**2, axis=0)

        start = jnp.broadcast_to(theta0, (2, n_lanes))
        theta, losses = jax.lax.scan(step, start, None, workload.steps)
        return jnp.mean((x_b @ theta - y) ** 2, axis=0), losses

    def run():
        return np.asarray(columns(rates)[0])

    return run, n_lanes


def prepare_inject_vmap(workload: Workload, n_lanes: int):
    """optax.inject_hyperparams + vmap over the learning rate (optax's suggested way)."""
    problem = workload.make_problem()
    optimizer = optax.inject_hyperparams(_optax_optimizer(workload))
    one = _optax_run(workload, problem, lambda lr: optimizer(learning_rate=lr))
    params, key = start_params(problem), data_key()
    rates = jnp.asarray(workload.learning_rates(n_lanes))
    if workload.batch_size is None:
        many, keys = jax.jit(jax.vmap(one, in_axes=(None, 0, None))), key
    else:  # every lane shuffles its own data (the same key each, as in jaxgd's lanes)
        many, keys = jax.jit(jax.vmap(one, in_axes=(None, 0, 0))), jnp.stack([key] * n_lanes)

    def run():
        return np.asarray(jax.block_until_ready(many(params, rates, keys)[0]))

    return run, n_lanes


def prepare_per_step_loop(workload: Workload, n_lanes: int, max_lanes: int = 2):
    """What most tutorials show: a Python loop over updates calling a jitted step."""
    problem = workload.make_problem()
    loss_fn, (x, y) = problem.loss_fn, problem.data
    make = _optax_optimizer(workload)
    n = x.shape[0]

    @jax.jit
    def step(params, state, lr, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        updates, state = make(lr).update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    measured = min(n_lanes, max_lanes)
    rates = workload.learning_rates(n_lanes)[:measured]
    start, key = start_params(problem), data_key()
    k = workload.batch_size
    per_epoch = n // k if k else 1
    orders = (
        np.stack(
            [
                np.asarray(epoch_order(key, e, n))
                for e in range(math.ceil(workload.steps / per_epoch))
            ]
        )
        if k
        else None
    )

    def run():
        finals = []
        for lr in rates:
            params, state = start, make(jnp.float32(lr)).init(start)
            losses = []
            for t in range(workload.steps):
                if k:
                    index = orders[t // per_epoch][(t % per_epoch) * k : (t % per_epoch + 1) * k]
                    xb, yb = x[index], y[index]
                else:
                    xb, yb = x, y
                params, state, loss = step(params, state, jnp.float32(lr), xb, yb)
                losses.append(loss)
            finals.append(loss_fn(params, x, y))
        return np.asarray(jax.block_until_ready(finals))

    return run, measured
