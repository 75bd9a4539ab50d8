"""The notes' worked backpropagation example on a 2-2-2 network, computed exactly.

Network (row i of a weight matrix feeds neuron i)::

    x = (0.05, 0.10)                    targets y = (0.01, 0.99)
    W¹ = [[0.15, 0.20], [0.25, 0.30]]   b¹ = 0.35   hidden activation f (ReLU in the notes)
    W² = [[0.40, 0.45], [0.50, 0.55]]   b² = 0.60   output activation σ (sigmoid)
    L  = MSE over the two outputs = Σ ½ (y − ŷ)²

The notes ask for the SGD update of W¹₁₁. By the chain rule it has one term
per output, because W¹₁₁ reaches the loss through h₁ and then both outputs::

    ∂L/∂W¹₁₁ = Σ_k  ∂L/∂ŷ_k · ∂ŷ_k/∂In²_k · ∂In²_k/∂h₁ · ∂h₁/∂In¹₁ · ∂In¹₁/∂W¹₁₁
             = Σ_k  (ŷ_k − y_k) · σ'(In²_k) · W²_k1 · f'(In¹₁) · x₁

With a sigmoid hidden layer and learning rate 0.5 this is the classic "step by step
backpropagation" example, whose published numbers this module reproduces. :func:`errata`
lists where the notes' arithmetic differs from the exact values, by step (forward pass,
backward pass, update), and checks each proposed cause by computing it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import jax
import jax.numpy as jnp

from jaxgd.backprop import backprop_trace
from jaxgd.losses import half_sse, mse
from jaxgd.models import mlp_apply
from jaxgd.problems import WORKED_X, WORKED_Y, worked_example_params

NOTES_LEARNING_RATE = 0.1
"""The rate the notes use in their arithmetic (they write α = 0.01 above it)."""

NOTES_W1_11_NEW = 0.15006647
"""W¹₁₁ after the notes' SGD step, as they write it."""

PUBLISHED_SIGMOID = {
    **{"In1_1": 0.3775, "h1": 0.593269992, "h2": 0.596884378, "In2_1": 1.105905967},
    **{"yhat1": 0.75136507, "yhat2": 0.772928465, "loss_half_sse": 0.298371109},
    **{"grad_W2_11": 0.082167041, "grad_W1_11": 0.000438568},
    **{"W2_11_new": 0.35891648, "W1_11_new": 0.149780716},
}
"""The classic example's published values (sigmoid hidden layer, α = 0.5), as printed in
M. Mazur, "A Step by Step Backpropagation Example" (2015); keys as in :func:`compute`."""

_FACTOR_NAMES = ("dL_dyhat", "dyhat_dO", "dO_dIn2", "dIn2_dh1", "dh1_dIn1", "dIn1_dW")
"""The chain-rule factors of one path to ∂L/∂W¹₁₁, in the order they are multiplied."""


def _loss_with_w1_11(params, x, y, hidden: str, value) -> jax.Array:
    """The loss of the network with W¹₁₁ set to ``value`` and every other weight unchanged."""
    changed = [dict(params[0], w=params[0]["w"].at[0, 0].set(value)), params[1]]
    return mse(mlp_apply(changed, x, hidden=hidden, output="sigmoid"), y)


def compute(hidden: str = "relu", learning_rate: float = NOTES_LEARNING_RATE) -> dict[str, Any]:
    """Every number of the worked example, in float64, as a flat dict of Python floats.

    Keys: pre-activations ``In1_1, In1_2, In2_1, In2_2``; activations ``h1, h2``;
    outputs ``yhat1, yhat2``; ``loss_mse`` and ``loss_half_sse`` (equal here);
    the chain-rule factors of both paths (``path{k}_dL_dyhat``, ``path{k}_dyhat_dO``,
    ``path{k}_dO_dIn2``, ``path{k}_dIn2_dh1``, ``path{k}_dh1_dIn1``, ``path{k}_dIn1_dW``),
    each path's product, ``grad_W1_11`` (their sum), ``grad_W1_11_jax`` and
    ``grad_W1_11_backprop``, ``grad_W2_11``, the SGD updates ``W1_11_new``,
    ``W2_11_new``; the loss after the step of W¹₁₁ alone, ``loss_after_step``, and with the
    notes' W¹₁₁ = 0.15006647, ``loss_after_notes_step``; plus the full gradients (nested
    lists) from both methods.
    """
    with jax.enable_x64(True):
        params = worked_example_params()
        x, y = jnp.asarray(WORKED_X, jnp.float64), jnp.asarray(WORKED_Y, jnp.float64)
        trace = backprop_trace(params, x, y, hidden=hidden, output="sigmoid", loss="mse")
        grads_jax = jax.grad(lambda p: mse(mlp_apply(p, x, hidden=hidden, output="sigmoid"), y))(
            params
        )
        z1, z2 = trace.zs[0][0], trace.zs[1][0]
        h, yhat = trace.activations[1][0], trace.activations[2][0]
        w2 = params[1]["w"]
        out: dict[str, Any] = {"hidden": hidden, "learning_rate": float(learning_rate)}
        for names, values in ((("In1_1", "In1_2"), z1), (("h1", "h2"), h)):
            out.update(zip(names, values, strict=True))
        for names, values in ((("In2_1", "In2_2"), z2), (("yhat1", "yhat2"), yhat)):
            out.update(zip(names, values, strict=True))
        out.update(loss_mse=trace.loss, loss_half_sse=half_sse(yhat, y[0]))
        for k in (0, 1):
            factors = (
                trace.dloss_dpred[0, k],
                1.0,
                trace.activation_derivatives[1][0, k],
                w2[k, 0],
                trace.activation_derivatives[0][0, 0],
                x[0, 0],
            )
            product = 1.0
            for name, value in zip(_FACTOR_NAMES, factors, strict=True):
                out[f"path{k + 1}_{name}"] = value
                product = product * value
            out[f"path{k + 1}_product"] = product
        out["grad_W1_11"] = out["path1_product"] + out["path2_product"]
        out["grad_W1_11_backprop"] = trace.grads[0]["w"][0, 0]
        out["grad_W1_11_jax"] = grads_jax[0]["w"][0, 0]
        out["grad_W2_11"] = grads_jax[1]["w"][0, 0]
        out["W1_11_new"] = params[0]["w"][0, 0] - learning_rate * out["grad_W1_11_jax"]
        out["W2_11_new"] = params[1]["w"][0, 0] - learning_rate * out["grad_W2_11"]
        out["loss_after_step"] = _loss_with_w1_11(params, x, y, hidden, out["W1_11_new"])
        out["loss_after_notes_step"] = _loss_with_w1_11(params, x, y, hidden, NOTES_W1_11_NEW)
        out = {k: (float(v) if not isinstance(v, str) else v) for k, v in out.items()}
        out["grads_backprop"] = jax.tree.map(lambda a: a.tolist(), trace.grads)
        out["grads_jax"] = jax.tree.map(lambda a: a.tolist(), grads_jax)
        out["backprop_equals_jax_grad"] = bool(
            all(
                jnp.allclose(a, b, rtol=1e-12, atol=0)
                for a, b in zip(
                    jax.tree.leaves(trace.grads), jax.tree.leaves(grads_jax), strict=True
                )
            )
        )
    return out


# ----------------------------------------------------------------------------- the notes' slips

NOTES_FACTORS = {
    "path1": (-0.249, 1.0, 0.187, 0.4, 0.3375, 0.05),
    "path2": (-0.217, 1.0, 0.174, 0.55, 0.3375, 0.05),
}
"""The chain-rule factors exactly as the notes write them (two rows under ∂L/∂W¹₁₁)."""


@dataclasses.dataclass(frozen=True)
class Erratum:
    """One place where the notes differ from the exact value.

    ``correct`` is the exact value for the notes' own network (ReLU, α = 0.1),
    ``sigmoid_original`` the classic example's (sigmoid hidden layer, α = 0.5).
    ``explained_by`` is the number the proposed cause produces, computed here,
    so the cause can be checked against what the notes wrote. ``step`` is the part of
    the computation: one of :data:`STEPS`.
    """

    quantity: str
    notes: float | str
    correct: float | str
    sigmoid_original: float | str
    explained_by: float | None
    cause: str
    step: str = "forward pass"


STEPS = ("forward pass", "backward pass", "update")
"""The parts of the worked example, in order; each erratum belongs to one."""


def _notes_gradient() -> float:
    return sum(math.prod(factors) for factors in NOTES_FACTORS.values())


def _hidden_layer_errata(ok: dict[str, Any], sig: dict[str, Any]) -> list[Erratum]:
    """The learning rate and the hidden layer's pre-activations."""
    return [
        Erratum(
            "learning rate α",
            "0.01 written, 0.1 used",
            NOTES_LEARNING_RATE,
            0.5,
            None,
            "The notes state α = 0.01 but compute the update with 0.1; this page uses 0.1.",
            "update",
        ),
        Erratum(
            "In¹₁ = W¹₁₁x₁ + W¹₁₂x₂ + b¹",
            0.3375,
            ok["In1_1"],
            sig["In1_1"],
            None,
            "0.0075 + 0.0200 + 0.35 = 0.3775: two digits swapped. The slip is reused as "
            "h¹₁ and as the factor ∂h¹₁/∂In¹₁.",
        ),
        Erratum(
            "In¹₂ formula",
            "W¹₁₂x₁ + W¹₂₂x₂ + b¹",
            "W¹₂₁x₁ + W¹₂₂x₂ + b¹",
            "W¹₂₁x₁ + W¹₂₂x₂ + b¹",
            None,
            "Row 2 feeds neuron 2, so its weights are W¹₂₁ and W¹₂₂; W¹₁₂ belongs to neuron 1.",
        ),
        Erratum(
            "In¹₂",
            0.5675,
            ok["In1_2"],
            sig["In1_2"],
            0.20 * 0.05 + 0.30 * 0.10 + 0.35,
            "Not reproduced by any reading found: the correct sum is 0.3925 and the notes' "
            "own formula (with W¹₁₂) gives the value in 'cause gives'. Later numbers do not "
            "use it: they come from the sigmoid original.",
        ),
    ]


def _output_layer_errata(ok: dict[str, Any], sig: dict[str, Any]) -> list[Erratum]:
    """The output layer's numbers, which the notes copied from the sigmoid original."""
    rows = [
        (
            "In²₁",
            1.1057,
            "In2_1",
            "Copied from the sigmoid original (hidden outputs 0.5933, 0.5969), not computed "
            "from the ReLU outputs; the last digit differs too.",
        ),
        ("ŷ₁ = σ(In²₁)", 0.7513, "yhat1", "The sigmoid original's output, to four digits."),
        ("In²₂", 1.2297, "In2_2", "The sigmoid original's 1.2249 with two digits changed."),
        ("ŷ₂ = σ(In²₂)", 0.7729, "yhat2", "The sigmoid original's output."),
    ]
    return [Erratum(q, notes, ok[key], sig[key], sig[key], cause) for q, notes, key, cause in rows]


def _factor_erratum(ok: dict, sig: dict, quantity: str, factor: str, by: float, cause: str):
    """A slip in one chain-rule factor ``factor`` (such as ``"path1_dL_dyhat"``)."""
    path, name = factor.split("_", 1)
    notes = NOTES_FACTORS[path][_FACTOR_NAMES.index(name)]
    return Erratum(quantity, notes, ok[factor], sig[factor], by, cause, "backward pass")


def _chain_rule_errata(ok: dict[str, Any], sig: dict[str, Any]) -> list[Erratum]:
    """The chain-rule factors of ∂L/∂W¹₁₁ along both paths."""
    rows = [
        (
            "∂L/∂ŷ₁ (path 1)",
            "path1_dL_dyhat",
            0.7513 - 1.0,
            "Equals ŷ₁ − 1 with the notes' ŷ₁ = 0.7513, as if the target y₁ were 1 instead "
            "of 0.01; the correct factor (2/m)(ŷ₁ − y₁) with m = 2 is positive.",
        ),
        (
            "∂O₁/∂In²₁ = σ'(In²₁) (path 1)",
            "path1_dO_dIn2",
            0.7513 * (1 - 0.7513),
            "σ(In)(1 − σ(In)) evaluated at the sigmoid original's ŷ₁ (the notes also write "
            "σ'(In)(1 − σ'(In)) where σ(In)(1 − σ(In)) is meant).",
        ),
        (
            "∂L/∂ŷ₂ (path 2)",
            "path2_dL_dyhat",
            0.7729 - 0.99,
            "Right formula, applied to the sigmoid original's ŷ₂.",
        ),
        (
            "∂O₂/∂In²₂ = σ'(In²₂) (path 2)",
            "path2_dO_dIn2",
            0.7729 * (1 - 0.7729),
            "σ(In)(1 − σ(In)) at the sigmoid original's ŷ₂ is 0.1755; 0.174 is a further slip.",
        ),
        (
            "∂In²₂/∂h¹₁ (path 2)",
            "path2_dIn2_dh1",
            0.55,
            "In²₂ = W²₂₁h¹₁ + W²₂₂h¹₂ + b², so the factor is W²₂₁ = 0.50; the notes took "
            "W²₂₂ = 0.55, the weight of h¹₂.",
        ),
        (
            "∂h¹₁/∂In¹₁ (both paths)",
            "path1_dh1_dIn1",
            0.3375,
            "The value h¹₁ (itself misadded) was used instead of the derivative "
            "ReLU'(In¹₁) = 1 for In¹₁ > 0.",
        ),
    ]
    return [_factor_erratum(ok, sig, *row) for row in rows]


def _update_errata(ok: dict[str, Any], sig: dict[str, Any]) -> list[Erratum]:
    """The gradient the notes' factors multiply to, and the SGD step taken with it."""
    notes_grad = _notes_gradient()
    return [
        Erratum(
            "∂L/∂W¹₁₁",
            0.0006647,
            ok["grad_W1_11"],
            sig["grad_W1_11"],
            notes_grad,
            "The product of the notes' own factors is negative (see 'cause gives'); the "
            "minus sign was dropped. The correct gradient is positive.",
            "backward pass",
        ),
        Erratum(
            "W¹₁₁ after one SGD step",
            0.15006647,
            ok["W1_11_new"],
            sig["W1_11_new"],
            0.15 - NOTES_LEARNING_RATE * notes_grad,
            "0.15 − 0.1 × (their negative product) gives 0.15006647: the weight grows, while "
            "the true gradient is positive and W¹₁₁ must decrease.",
            "update",
        ),
        Erratum(
            "loss after the step (only W¹₁₁ changed)",
            "not computed",
            ok["loss_after_step"],
            sig["loss_after_step"],
            ok["loss_after_notes_step"],
            f"The loss before the step is {ok['loss_mse']:.10f}. The exact step lowers it; "
            "with the notes' W¹₁₁ = 0.15006647 it rises to the value in 'cause gives': "
            "their step goes uphill.",
            "update",
        ),
    ]


def errata() -> list[Erratum]:
    """The notes' slips, each with the exact value for the notes' own network (ReLU
    hidden layer, α = 0.1), the classic sigmoid original's value, and the cause."""
    ok = compute("relu", NOTES_LEARNING_RATE)
    sig = compute("sigmoid", 0.5)
    groups = (_hidden_layer_errata, _output_layer_errata, _chain_rule_errata, _update_errata)
    rows = [row for group in groups for row in group(ok, sig)]
    return sorted(rows, key=lambda row: STEPS.index(row.step))  # stable: in order within a step


# ----------------------------------------------------------------------------- output


def _fmt(value: float | str | None, digits: int = 9) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}g}"


def format_report(values: dict[str, Any]) -> str:
    """The worked example laid out as the notes lay it out, as plain text."""
    v = values
    hidden_name = {"relu": "ReLU", "sigmoid": "sigmoid"}.get(v["hidden"], v["hidden"])
    lines = [
        f"Worked example: 2-2-2 network, {hidden_name} hidden layer, sigmoid outputs, "
        f"learning rate {v['learning_rate']:g}",
        "",
        "1) Forward pass",
        f"  In¹₁ = W¹₁₁x₁ + W¹₁₂x₂ + b¹ = {_fmt(v['In1_1'])}   h¹₁ = f(In¹₁) = {_fmt(v['h1'])}",
        f"  In¹₂ = W¹₂₁x₁ + W¹₂₂x₂ + b¹ = {_fmt(v['In1_2'])}   h¹₂ = f(In¹₂) = {_fmt(v['h2'])}",
        f"  In²₁ = W²₁₁h¹₁ + W²₁₂h¹₂ + b² = {_fmt(v['In2_1'])}   ŷ₁ = σ(In²₁) = {_fmt(v['yhat1'])}",
        f"  In²₂ = W²₂₁h¹₁ + W²₂₂h¹₂ + b² = {_fmt(v['In2_2'])}   ŷ₂ = σ(In²₂) = {_fmt(v['yhat2'])}",
        "",
        "2) Loss",
        f"  MSE = (1/2) Σ (y − ŷ)² = {_fmt(v['loss_mse'])}"
        f"   (= Σ ½ (y − ŷ)² = {_fmt(v['loss_half_sse'])})",
        "",
        "3) Backward pass: ∂L/∂W¹₁₁ = path 1 (through ŷ₁) + path 2 (through ŷ₂)",
        "  factor                 path 1          path 2",
    ]
    labels = ("∂L/∂ŷₖ", "∂ŷₖ/∂Oₖ", "∂Oₖ/∂In²ₖ = σ'", "∂In²ₖ/∂h¹₁ = W²ₖ₁", "∂h¹₁/∂In¹₁ = f'")
    labels += ("∂In¹₁/∂W¹₁₁ = x₁", "product")
    for key, label in zip((*_FACTOR_NAMES, "product"), labels, strict=True):
        lines.append(f"  {label:<22} {_fmt(v[f'path1_{key}']):<15} {_fmt(v[f'path2_{key}'])}")
    lines += [
        "",
        f"  ∂L/∂W¹₁₁ = path 1 + path 2 = {_fmt(v['grad_W1_11'])}",
        f"             jax.grad        = {_fmt(v['grad_W1_11_jax'])}",
        f"             backprop.py     = {_fmt(v['grad_W1_11_backprop'])}",
        "  all gradients agree (rtol 1e-12): " + ("yes" if v["backprop_equals_jax_grad"] else "NO"),
        f"  ∂L/∂W²₁₁ = {_fmt(v['grad_W2_11'])}",
        "",
        "4) SGD update W_new = W_old − α ∂L/∂W_old",
        f"  W¹₁₁: 0.15 − {v['learning_rate']:g} × {_fmt(v['grad_W1_11_jax'])} = "
        f"{_fmt(v['W1_11_new'])}",
        f"  W²₁₁: 0.40 − {v['learning_rate']:g} × {_fmt(v['grad_W2_11'])} = {_fmt(v['W2_11_new'])}",
        "",
        "5) Loss after the step of W¹₁₁ (every other weight unchanged)",
        f"  before the step                      L = {v['loss_mse']:.10f}",
        f"  exact step:   W¹₁₁ = {v['W1_11_new']:<15.9g} L = {_change(v, 'loss_after_step')}",
    ]
    if v["hidden"] == "relu":
        lines.append(
            f"  notes' step:  W¹₁₁ = {NOTES_W1_11_NEW:<15.9g} "
            f"L = {_change(v, 'loss_after_notes_step')}"
        )
    return "\n".join(lines)


def _change(values: dict[str, Any], key: str) -> str:
    """A loss after a step, and how it moved from the loss before."""
    change = values[key] - values["loss_mse"]
    return f"{values[key]:.10f}  " + (
        f"(down {-change:.2g})" if change < 0 else f"(up {change:.2g}: uphill)"
    )


def to_json(values: dict[str, Any], rows: list[Erratum]) -> str:
    """Trace and errata as one JSON document."""
    return json.dumps({"trace": values, "errata": [dataclasses.asdict(r) for r in rows]}, indent=2)
