"""PyTorch peers (optional: ``pip install torch``): the same lanes, trained the PyTorch ways.

* a loop of ``torch.optim`` runs, one lane after the other (timed on a few
  lanes, extrapolated);
* ``torch.func`` (``vmap`` of ``grad_and_value``) over stacked per-lane
  parameters with the update written out, for full-batch workloads;
* for W1, the lanes written by hand as matrix columns (θ of shape [2, N]).

Models mirror jaxgd's: a dense layer computes ``x @ W.T + b``.
"""

from __future__ import annotations

import numpy as np

from .workloads import Workload, data_key, start_params

try:
    import torch
    from torch.func import grad_and_value, vmap
except ImportError:  # pragma: no cover - optional
    torch = None

ACTIVATION = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "identity": None}


def available() -> bool:
    return torch is not None


def _as_torch(tree):
    return [torch.tensor(np.asarray(a), dtype=torch.float32) for a in tree]


def _model_spec(problem):
    """(kind, hidden, output) of a jaxgd problem: 'linear' or an MLP's activations."""
    if problem.name == "geron-linear":
        return "linear", None, None
    model = problem.loss_fn.model
    return "mlp", model.hidden, model.output


def _activate(name, z):
    if name is None or name == "identity":
        return z
    return getattr(torch, name)(z)


def _forward(spec, params, x):
    kind, hidden, output = spec
    if kind == "linear":
        w, b = params
        return x @ w + b
    a = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        w, b = params[2 * i], params[2 * i + 1]
        z = a @ w.T + b
        a = _activate(output if i == n_layers - 1 else hidden, z)
    return a


def _flat_start(problem):
    start = start_params(problem)
    if isinstance(start, dict):  # linear model {"w", "b"}
        return _as_torch([start["w"], start["b"]])
    return _as_torch([leaf for layer in start for leaf in (layer["w"], layer["b"])])


def _data(problem):
    x, y = problem.data
    return torch.tensor(np.asarray(x)), torch.tensor(np.asarray(y))


def _orders(workload: Workload, n):
    """The same data order as the JAX methods: a permutation per epoch from the data key."""
    from jaxgd.train import epoch_order

    k = workload.batch_size
    per_epoch = n // k
    epochs = -(-workload.steps // per_epoch)
    key = data_key()
    return [torch.tensor(np.asarray(epoch_order(key, e, n))) for e in range(epochs)]


def prepare_torch_loop(workload: Workload, n_lanes: int, max_lanes: int = 2):
    """A loop of torch.optim runs (SGD or Adam with PyTorch's defaults but eps = 1e-8)."""
    if workload.user_written:  # its torch translation would be jaxgd's own layout
        return None
    problem = workload.make_problem()
    spec, start = _model_spec(problem), _flat_start(problem)
    x, y = _data(problem)
    n, k = x.shape[0], workload.batch_size
    orders = _orders(workload, n) if k else None
    measured = min(n_lanes, max_lanes)
    rates = workload.learning_rates(n_lanes)[:measured]

    def run():
        finals = []
        for lr in rates:
            params = [p.clone().requires_grad_(True) for p in start]
            if workload.optimizer == "sgd":
                opt = torch.optim.SGD(params, lr=float(lr))
            else:
                opt = torch.optim.Adam(params, lr=float(lr), eps=1e-8)
            losses = []
            for t in range(workload.steps):
                if k:
                    per_epoch = n // k
                    index = orders[t // per_epoch][(t % per_epoch) * k : (t % per_epoch + 1) * k]
                    xb, yb = x[index], y[index]
                else:
                    xb, yb = x, y
                opt.zero_grad()
                loss = torch.mean((_forward(spec, params, xb) - yb) ** 2)
                loss.backward()
                opt.step()
                losses.append(loss.detach())
            with torch.no_grad():
                finals.append(float(torch.mean((_forward(spec, params, x) - y) ** 2)))
        return np.asarray(finals)

    return run, measured


def prepare_torch_func(workload: Workload, n_lanes: int):
    """torch.func: vmap(grad_and_value) over stacked lanes; SGD or Adam written out."""
    if workload.batch_size is not None or workload.user_written:
        return None
    problem = workload.make_problem()
    spec, start = _model_spec(problem), _flat_start(problem)
    x, y = _data(problem)
    lr = torch.tensor(workload.learning_rates(n_lanes))

    def loss(params, x, y):
        return torch.mean((_forward(spec, params, x) - y) ** 2)

    step_grads = vmap(grad_and_value(loss), in_dims=(0, None, None))

    def per_lane(rate, like):
        return rate.reshape((-1,) + (1,) * (like.dim() - 1))

    def run():
        params = [p.expand(n_lanes, *p.shape).clone() for p in start]
        m = [torch.zeros_like(p) for p in params]
        v = [torch.zeros_like(p) for p in params]
        losses = []
        for t in range(1, workload.steps + 1):
            grads, value = step_grads(params, x, y)
            losses.append(value)
            for i, g in enumerate(grads):
                step = per_lane(lr, g)
                if workload.optimizer == "sgd":
                    params[i] = params[i] - step * g
                else:
                    m[i] = 0.9 * m[i] + 0.1 * g
                    v[i] = 0.999 * v[i] + 0.001 * g * g
                    m_hat, v_hat = m[i] / (1 - 0.9**t), v[i] / (1 - 0.999**t)
                    params[i] = params[i] - step * m_hat / (torch.sqrt(v_hat) + 1e-8)
        finals = vmap(loss, in_dims=(0, None, None))(params, x, y)
        return finals.numpy()

    return run, n_lanes


def prepare_torch_columns(workload: Workload, n_lanes: int):
    """W1 by hand: θ = (b, w) as [2, N] columns, X as [m, 2]; the MSE gradient written out."""
    if workload.name != "W1":
        return None
    problem = workload.make_problem()
    x, y = _data(problem)
    xb = torch.cat([torch.ones_like(x), x], dim=1)
    start = start_params(problem)
    theta0 = torch.tensor([[float(start["b"])], [float(start["w"][0])]], dtype=torch.float32)
    lr = torch.tensor(workload.learning_rates(n_lanes))
    m = x.shape[0]

    def run():
        theta = theta0.expand(2, n_lanes).clone()
        losses = []
        for _ in range(workload.steps):
            residual = xb @ theta - y[:, None]
            losses.append(torch.mean(residual**2, dim=0))
            theta = theta - lr * (2.0 / m) * (xb.T @ residual)
        return torch.mean((xb @ theta - y[:, None]) ** 2, dim=0).numpy()

    return run, n_lanes
