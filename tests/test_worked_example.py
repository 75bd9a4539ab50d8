import json
import math

import numpy as np
import pytest

from jaxgd import worked_example as we
from jaxgd.cli import main

# Published values of the classic "step by step backpropagation" example
# (sigmoid hidden layer, learning rate 0.5), as printed in the original post
# (M. Mazur, "A Step by Step Backpropagation Example", 2015).
PUBLISHED = {
    "In1_1": 0.3775,
    "h1": 0.593269992,
    "h2": 0.596884378,
    "In2_1": 1.105905967,
    "yhat1": 0.75136507,
    "yhat2": 0.772928465,
    "loss_half_sse": 0.298371109,
    "grad_W2_11": 0.082167041,
    "grad_W1_11": 0.000438568,
    "W2_11_new": 0.35891648,
    "W1_11_new": 0.149780716,
}


@pytest.fixture(scope="module")
def sigmoid_values():
    return we.compute("sigmoid", 0.5)


@pytest.fixture(scope="module")
def relu_values():
    return we.compute("relu", 0.1)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_sigmoid_variant_matches_published_digits(sigmoid_values, name):
    published = PUBLISHED[name]
    digits = len(repr(published).split(".")[1])
    assert round(sigmoid_values[name], digits) == published


def _independent_relu_example(lr=0.1):
    """The notes' network computed by hand in NumPy, without jaxgd."""
    x = np.array([0.05, 0.10])
    y = np.array([0.01, 0.99])
    w1 = np.array([[0.15, 0.20], [0.25, 0.30]])
    w2 = np.array([[0.40, 0.45], [0.50, 0.55]])
    z1 = w1 @ x + 0.35
    h = np.maximum(z1, 0.0)
    z2 = w2 @ h + 0.60
    yhat = 1 / (1 + np.exp(-z2))
    loss = np.mean((y - yhat) ** 2)

    def loss_with(w1_11):
        w = w1.copy()
        w[0, 0] = w1_11
        out = 1 / (1 + np.exp(-(w2 @ np.maximum(w @ x + 0.35, 0.0) + 0.60)))
        return np.mean((y - out) ** 2)

    dl_dyhat = (2 / 2) * (yhat - y)
    dyhat_dz2 = yhat * (1 - yhat)
    relu_prime = (z1 > 0).astype(float)
    grad_w1_11 = sum(dl_dyhat[k] * dyhat_dz2[k] * w2[k, 0] for k in range(2)) * relu_prime[0] * x[0]
    return {
        "In1_1": z1[0],
        "In1_2": z1[1],
        "h1": h[0],
        "h2": h[1],
        "In2_1": z2[0],
        "In2_2": z2[1],
        "yhat1": yhat[0],
        "yhat2": yhat[1],
        "loss_mse": loss,
        "path1_dL_dyhat": dl_dyhat[0],
        "path2_dL_dyhat": dl_dyhat[1],
        "path1_dO_dIn2": dyhat_dz2[0],
        "path2_dO_dIn2": dyhat_dz2[1],
        "path2_dIn2_dh1": w2[1, 0],
        "path1_dh1_dIn1": relu_prime[0],
        "grad_W1_11": grad_w1_11,
        "W1_11_new": 0.15 - lr * grad_w1_11,
        "loss_after_step": loss_with(0.15 - lr * grad_w1_11),
        "loss_after_notes_step": loss_with(0.15006647),
    }


def test_relu_variant_equals_an_independent_computation(relu_values):
    expected = _independent_relu_example()
    for name, value in expected.items():
        assert relu_values[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


def test_every_gradient_route_agrees(relu_values, sigmoid_values):
    for values in (relu_values, sigmoid_values):
        assert values["backprop_equals_jax_grad"]
        assert values["grad_W1_11"] == pytest.approx(values["grad_W1_11_jax"], rel=1e-13)
        assert values["grad_W1_11_backprop"] == pytest.approx(values["grad_W1_11_jax"], rel=1e-13)
        assert values["loss_mse"] == pytest.approx(values["loss_half_sse"], rel=1e-15)


def test_errata_causes_reproduce_the_notes_numbers():
    rows = {row.quantity: row for row in we.errata()}
    # The notes' factors multiply to −0.0006647 (they wrote +0.0006647).
    grad = rows["∂L/∂W¹₁₁"]
    assert grad.explained_by == pytest.approx(-0.0006647, abs=5e-8)
    assert grad.correct > 0
    # Their update 0.15006647 is the step with that negative product: uphill.
    step = rows["W¹₁₁ after one SGD step"]
    assert step.explained_by == pytest.approx(0.15006647, abs=1e-8)
    assert step.correct < 0.15 < step.notes
    # −0.249 is ŷ₁ − 1 with their ŷ₁, and their outputs are the sigmoid original's.
    assert rows["∂L/∂ŷ₁ (path 1)"].explained_by == pytest.approx(-0.249, abs=5e-4)
    assert round(rows["ŷ₂ = σ(In²₂)"].sigmoid_original, 4) == 0.7729
    # Each numeric row really differs from the correct value.
    for row in rows.values():
        if isinstance(row.notes, float) and isinstance(row.correct, float):
            assert not math.isclose(row.notes, row.correct, rel_tol=1e-3), row.quantity


def test_cli_text_and_json(capsys):
    assert main(["worked-example", "--hidden", "sigmoid", "--lr", "0.5"]) == 0
    text = capsys.readouterr().out
    assert "0.149780716" in text and "0.35891648" in text and "Errata" in text
    assert main(["worked-example", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["trace"]["hidden"] == "relu" and data["trace"]["learning_rate"] == 0.1
    assert len(data["errata"]) >= 10


def test_cli_rejects_bad_activation(capsys):
    with pytest.raises(SystemExit):
        main(["worked-example", "--hidden", "tanh"])
    assert "invalid choice" in capsys.readouterr().err


def test_loss_after_the_step_exact_downhill_notes_uphill(relu_values):
    """The issue's numbers, to the 10 digits it gives them, and the independent NumPy ones."""
    assert round(relu_values["loss_mse"], 10) == 0.2829275069
    assert round(relu_values["loss_after_step"], 10) == 0.2829272495
    assert round(relu_values["loss_after_notes_step"], 10) == 0.2829276135
    expected = _independent_relu_example()
    for key in ("loss_after_step", "loss_after_notes_step"):
        assert relu_values[key] == pytest.approx(expected[key], rel=1e-14, abs=0), key
    rows = {row.quantity: row for row in we.errata()}
    row = rows["loss after the step (only W¹₁₁ changed)"]
    assert row.correct < relu_values["loss_mse"] < row.explained_by
    assert row.step == "update"


def test_errata_are_grouped_by_step_in_order():
    steps = [row.step for row in we.errata()]
    assert set(steps) == set(we.STEPS)
    assert steps == sorted(steps, key=we.STEPS.index)


def test_cli_text_fits_a_100_column_terminal_grouped(capsys):
    assert main(["worked-example"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    section_5 = lines.index("5) Loss after the step of W¹₁₁ (every other weight unchanged)")
    headings = [lines.index(h) for h in ("Forward pass", "Backward pass", "Update")]
    assert section_5 < headings[0] < headings[1] < headings[2]
    assert "L = 0.2829272495  (down" in text and "L = 0.2829276135  (up" in text
    assert "uphill" in text
    # no line of a wrapped cause ends next to an operator
    assert not [line for line in lines if line.rstrip().endswith((" −", " =", " >", " ×"))]
