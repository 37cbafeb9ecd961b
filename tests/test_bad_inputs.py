"""Bad input is never silent and never raw: a table of wrong calls against the public API.

Each row is a call that must fail, the exception type it must raise, and words its message must
contain (case-insensitive), so the message names the function and the fix. Every row also
asserts that the error is not one of the raw internals users cannot act on (a ``KeyError``, an
``AttributeError``, an XLA/MLIR message, "too many values to unpack", ...).

The data are tiny and most rows raise before anything is compiled (host-side boundary checks
or trace-time shape checks), so the table is fast.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import datasets, io, losses, perceptron, train, validate

# --------------------------------------------------------------------------------------------
# Tiny models and data, built on first use
# --------------------------------------------------------------------------------------------

KEY = jax.random.key(0)
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [0.5, 0.2], [0.1, 0.9]], np.float32)
LABELS = np.array([0, 1, 1, 0, 1, 0], np.int32)
T01 = LABELS[:, None].astype(np.float32)  # (6, 1) targets for BCE


@functools.cache
def clf():
    """mlp([2, 3, 2]) (logits) and its params."""
    model = jaxnn.mlp([2, 3, 2], activation="tanh")
    return model, model.init(KEY, (2,))[1]


@functools.cache
def logit1():
    """mlp([2, 3, 1]) with no output activation: one logit, not a probability."""
    model = jaxnn.mlp([2, 3, 1], activation="tanh")
    return model, model.init(KEY, (2,))[1]


@functools.cache
def prob1():
    """mlp([2, 3, 1]) with a sigmoid output: a probability."""
    model = jaxnn.mlp([2, 3, 1], activation="tanh", output_activation="sigmoid")
    return model, model.init(KEY, (2,))[1]


@functools.cache
def other_params():
    """Params of mlp([2, 4, 2]): another model's."""
    return jaxnn.mlp([2, 4, 2]).init(KEY, (2,))[1]


def dense3(use_bias=True):
    layer = jaxnn.Dense(3, use_bias=use_bias)
    return layer, layer.init(KEY, (2,))[1]


def with_leaf(params, index, name, value):
    """A copy of serial params with ``params[index][name] = value`` (or deleted if None)."""
    params = list(params)
    leaf = dict(params[index])
    if value is None:
        del leaf[name]
    else:
        leaf[name] = value
    params[index] = leaf
    return tuple(params)


def ce():
    return losses.softmax_cross_entropy()


def bce():
    return losses.binary_cross_entropy()


def fit_clf(*, model=None, loss=None, opt=None, params=None, x=X, target=LABELS, **kw):
    m, p = clf()
    kw.setdefault("steps", 2)
    return train.fit(
        model or m,
        loss or ce(),
        opt or optax.sgd(0.1),
        p if params is None else params,
        x,
        target,
        **kw,
    )


def ensemble_params(n=3):
    model, _ = clf()
    return train.init_ensemble(model, KEY, n, (2,))


def fit_ens(*, opt=None, **kw):
    model, _ = clf()
    kw.setdefault("steps", 2)
    return train.fit_ensemble(
        model, ce(), opt or optax.sgd(0.1), ensemble_params(), X, LABELS, **kw
    )


def grad_clf(params=None, x=X, target=LABELS, loss=None):
    model, p = clf()
    return jaxnn.grad(model, loss or ce())(p if params is None else params, x, target)


def check_clf(params=None, x=X, target=LABELS, model=None, loss=None):
    m, p = clf()
    return jaxnn.check_grads(model or m, loss or ce(), p if params is None else params, x, target)


def only_dx_layer():
    """A user layer whose backward returns only dx (forgot dparams)."""
    inner = jaxnn.Dense(2)

    def vjp(params, x):
        y, backward = inner.vjp(params, x)
        return y, lambda dy: backward(dy)[1]

    return jaxnn.Layer(inner.init, inner.apply, vjp, name="MyDense")


def inject_sgd(lr):
    return optax.inject_hyperparams(optax.sgd)(learning_rate=lr)


@functools.cache
def files() -> str:
    """A scratch directory (removed at exit) with a text file and a params-only save."""
    directory = tempfile.mkdtemp(prefix="jaxnn-bad-inputs-")
    atexit.register(shutil.rmtree, directory, True)
    with open(os.path.join(directory, "notes.txt"), "w") as f:
        f.write("not params")
    io.save(os.path.join(directory, "params.npz"), clf()[1])
    return directory


def custom_init_dense():
    return jaxnn.Dense(3, w_init=lambda key, shape, dtype=jnp.float32: jnp.zeros(shape, dtype))


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


class Row(NamedTuple):
    id: str
    call: Callable[[], object]
    error: type | tuple[type, ...]
    words: tuple[str, ...]
    pending: str | None = None  # "pending: <who>" while the feature has not landed


ROWS = [
    # ---- params of another model: checked against the model at trace time -----------------
    Row(
        "apply-params-of-other-model",
        lambda: clf()[0].apply(other_params(), X),
        ValueError,
        ("Dense", "[0]", "another model"),
    ),
    Row(
        "grad-params-of-other-model",
        lambda: grad_clf(other_params()),
        ValueError,
        ("Dense", "another model"),
    ),
    Row(
        "fit-params-of-other-model",
        lambda: fit_clf(params=other_params()),
        ValueError,
        ("Dense", "[0].w", "(2, 3)", "(2, 4)", "another model"),
    ),
    Row(
        "check_grads-params-of-other-model",
        lambda: check_clf(other_params()),
        ValueError,
        ("Dense", "another model"),
    ),
    Row(
        "bias-shape-(1,)-for-3-units",
        lambda: dense3()[0].apply({**dense3()[1], "b": jnp.zeros((1,))}, X),
        ValueError,
        ("Dense(3)", "b", "(3,)", "(1,)"),
    ),
    Row(
        "missing-b",
        lambda: dense3()[0].apply({"w": dense3()[1]["w"]}, X),
        ValueError,
        ("Dense(3)", "b"),
    ),
    Row(
        "b-given-to-no-bias-layer",
        lambda: dense3(False)[0].apply({**dense3(False)[1], "b": jnp.zeros(3)}, X),
        ValueError,
        ("Dense(3", "b"),
    ),
    Row(
        "transposed-w",
        lambda: dense3()[0].apply({**dense3()[1], "w": jnp.zeros((3, 2))}, X),
        ValueError,
        ("Dense(3)", "w", "(2, 3)", "(3, 2)"),
    ),
    Row(
        "too-few-layers-of-params",
        lambda: clf()[0].apply(clf()[1][:2], X),
        ValueError,
        ("mlp([2, 3, 2])", "3", "length 2", "another model"),
    ),
    Row(
        "int-weights",
        lambda: dense3()[0].apply({"w": jnp.ones((2, 3), jnp.int32), "b": jnp.zeros(3)}, X),
        (ValueError, TypeError),
        ("Dense(3)", "w", "float"),
    ),
    Row(
        "wrong-feature-count-x",
        lambda: fit_clf(x=np.ones((6, 3), np.float32)),
        ValueError,
        ("(..., 2)", "(6, 3)"),
    ),
    # ---- class labels and cross-entropy targets --------------------------------------------
    Row(
        "fit-label-5-of-2",
        lambda: fit_clf(target=np.array([0, 1, 5, 0, 1, 0])),
        ValueError,
        ("label 5", "2 classes", "0..1"),
    ),
    Row(
        "fit-label-minus-1",
        lambda: fit_clf(target=np.array([0, 1, -1, 0, 1, 0])),
        ValueError,
        ("label -1", "0..1"),
    ),
    Row(
        "grad-label-5-of-2",
        lambda: grad_clf(target=np.array([0, 1, 5, 0, 1, 0])),
        ValueError,
        ("jaxnn.grad", "label 5"),
    ),
    Row(
        "check_grads-label-5",
        lambda: check_clf(target=np.array([0, 1, 5, 0, 1, 0])),
        ValueError,
        ("check_grads", "label 5"),
    ),
    Row(
        "fit_ensemble-label-5",
        lambda: train.fit_ensemble(
            clf()[0],
            ce(),
            optax.sgd(0.1),
            ensemble_params(),
            X,
            np.array([0, 1, 5, 0, 1, 0]),
            steps=2,
        ),
        ValueError,
        ("label 5", "2 classes"),
    ),
    Row(
        "loss-label-5-eager",
        lambda: ce().value(jnp.zeros((2, 2)), jnp.array([0, 5])),
        ValueError,
        ("softmax_cross_entropy", "label 5"),
    ),
    Row(
        "ce-single-logit-column",
        lambda: fit_clf(model=logit1()[0], params=logit1()[1]),
        ValueError,
        ("single column", "binary_cross_entropy"),
    ),
    Row(
        "ce-single-logit-column-loss",
        lambda: ce().value(jnp.zeros((3, 1)), jnp.zeros(3, int)),
        ValueError,
        ("single column",),
    ),
    Row(
        "ce-float-labels",
        lambda: ce().value(jnp.zeros((3, 2)), jnp.array([0.0, 1.0, 1.0])),
        ValueError,
        ("class labels", "integers"),
    ),
    Row(
        "ce-labels-with-trailing-axis",
        lambda: fit_clf(target=LABELS[:, None]),
        ValueError,
        ("trailing axis",),
    ),
    Row(
        "ce-onehot-of-pm1",
        lambda: fit_clf(target=2 * np.eye(2)[LABELS] - 1),
        ValueError,
        ("[0, 1]",),
    ),
    Row(
        "ce-bool-logits",
        lambda: ce().value(jnp.zeros((2, 2), bool), jnp.array([0, 1])),
        TypeError,
        ("floating",),
    ),
    Row(
        "ce-reduction-typo",
        lambda: losses.softmax_cross_entropy("avg"),
        ValueError,
        ("reduction", "'avg'"),
    ),
    Row(
        "ce-called-with-logits",
        lambda: losses.softmax_cross_entropy(jnp.zeros((2, 2))),
        TypeError,
        ("loss.value",),
    ),
    # ---- binary cross-entropy on logits / on ±1 targets ------------------------------------
    Row(
        "bce-on-logits-eager",
        lambda: bce().value(jnp.array([[2.0], [-1.0]]), jnp.ones((2, 1))),
        ValueError,
        ("binary_cross_entropy", "logits", "Sigmoid"),
    ),
    Row(
        "bce-pm1-targets-fit",
        lambda: train.fit(prob1()[0], bce(), optax.sgd(0.1), prob1()[1], X, 2 * T01 - 1, steps=2),
        ValueError,
        ("[0, 1]", "(target + 1) / 2"),
    ),
    Row(
        "bce-pm1-targets-grad",
        lambda: jaxnn.grad(prob1()[0], bce())(prob1()[1], X, 2 * T01 - 1),
        ValueError,
        ("jaxnn.grad", "[0, 1]"),
    ),
    Row(
        "bce-on-logits-fit",
        lambda: train.fit(logit1()[0], bce(), optax.sgd(0.1), logit1()[1], X, T01, steps=2),
        ValueError,
        ("fit", "logits", "Sigmoid"),
    ),
    Row(
        "bce-on-logits-check_grads",
        lambda: jaxnn.check_grads(logit1()[0], bce(), logit1()[1], X, T01),
        ValueError,
        ("logits", "Sigmoid"),
    ),
    Row(
        "bce-targets-out-of-range-eager",
        lambda: bce().value(jnp.full((2, 1), 0.5), jnp.array([[3.0], [0.0]])),
        ValueError,
        ("targets", "[0, 1]"),
    ),
    Row(
        "sse-shape-mismatch",
        lambda: losses.sse.value(jnp.zeros((4, 1)), jnp.zeros(4)),
        ValueError,
        ("sse", "(4, 1)", "(4,)"),
    ),
    Row("l2-negative", lambda: losses.l2(-0.1), ValueError, ("l2", ">= 0")),
    Row("l2-string", lambda: losses.l2("0.1"), TypeError, ("l2", "real number")),
    # ---- uncalled factories and arguments of the wrong kind ---------------------------------
    Row(
        "fit-uncalled-ce",
        lambda: fit_clf(loss=losses.softmax_cross_entropy),
        TypeError,
        ("softmax_cross_entropy is a factory", "losses.softmax_cross_entropy()"),
    ),
    Row(
        "fit-uncalled-l2",
        lambda: fit_clf(reg=losses.l2),
        TypeError,
        ("l2 is a factory", "losses.l2(0.01)"),
    ),
    Row(
        "fit-uncalled-sgd",
        lambda: fit_clf(opt=optax.sgd),
        TypeError,
        ("sgd is a factory", "call it", "optax.sgd("),
    ),
    Row("fit-uncalled-mlp", lambda: fit_clf(model=jaxnn.mlp), TypeError, ("mlp", "call it")),
    Row("fit-reg-as-number", lambda: fit_clf(reg=0.01), TypeError, ("reg", "losses.l2(0.01)")),
    Row(
        "fit-loss-and-optimizer-swapped",
        lambda: train.fit(clf()[0], optax.sgd(0.1), ce(), clf()[1], X, LABELS, steps=2),
        TypeError,
        ("loss",),
    ),
    Row(
        "fit_ensemble-uncalled-adam",
        lambda: fit_ens(opt=optax.adam),
        TypeError,
        ("adam is a factory", "call it"),
    ),
    Row(
        "grad-uncalled-bce",
        lambda: jaxnn.grad(prob1()[0], losses.binary_cross_entropy),
        TypeError,
        ("binary_cross_entropy is a factory", "losses.binary_cross_entropy()"),
    ),
    Row(
        "grad-uncalled-l2",
        lambda: jaxnn.grad(clf()[0], ce(), reg=losses.l2),
        TypeError,
        ("l2 is a factory", "losses.l2(0.01)"),
    ),
    Row(
        "autodiff_grad-uncalled-Tanh",
        lambda: jaxnn.autodiff_grad(jaxnn.Tanh, ce()),
        TypeError,
        ("Tanh", "call it", "Tanh()"),
    ),
    Row(
        "value_and_grad-loss-is-l2",
        lambda: jaxnn.value_and_grad(clf()[0], losses.l2(0.1)),
        TypeError,
        ("regularizer", "reg="),
    ),
    Row(
        "check_grads-uncalled-ce",
        lambda: check_clf(loss=losses.softmax_cross_entropy),
        TypeError,
        ("softmax_cross_entropy is a factory", "call it"),
    ),
    Row(
        "check_grads-uncalled-l2",
        lambda: jaxnn.check_grads(clf()[0], ce(), clf()[1], X, LABELS, reg=losses.l2),
        TypeError,
        ("l2 is a factory", "losses.l2(0.01)"),
    ),
    Row(
        "assert_layer_grads-uncalled-Tanh",
        lambda: jaxnn.testing.assert_layer_grads(jaxnn.Tanh, (3,)),
        TypeError,
        ("Tanh", "call it"),
    ),
    Row(
        "init_ensemble-uncalled-mlp",
        lambda: train.init_ensemble(jaxnn.mlp, KEY, 3, (2,)),
        TypeError,
        ("mlp", "call it"),
    ),
    Row(
        "model-is-list-of-layers",
        lambda: fit_clf(model=[jaxnn.Dense(2), jaxnn.Tanh()]),
        TypeError,
        ("serial",),
    ),
    # ---- init and sizes ----------------------------------------------------------------------
    Row(
        "init-with-int-shape",
        lambda: clf()[0].init(KEY, 2),
        (TypeError, ValueError),
        ("input_shape", "(2,)"),
    ),
    Row("init-with-int-seed", lambda: clf()[0].init(0, (2,)), TypeError, ("key", "jax.random.key")),
    Row(
        "init_ensemble-negative-n",
        lambda: train.init_ensemble(clf()[0], KEY, -3, (2,)),
        ValueError,
        ("init_ensemble", "n", "-3"),
    ),
    Row(
        "init_ensemble-negative-shape",
        lambda: train.init_ensemble(clf()[0], KEY, 3, (-2,)),
        ValueError,
        ("init_ensemble", "input_shape"),
    ),
    Row("mlp-negative-size", lambda: jaxnn.mlp([2, -3, 1]), ValueError, ("mlp", "-3")),
    Row("Dense-zero-features", lambda: jaxnn.Dense(0), ValueError, ("Dense", "features")),
    Row("Dropout-rate-1", lambda: jaxnn.Dropout(1.0), ValueError, ("Dropout", "rate")),
    Row(
        "make_moons-negative-n",
        lambda: datasets.make_moons(KEY, -5, 0.1),
        ValueError,
        ("make_moons", "-5"),
    ),
    Row(
        "make_moons-int-key",
        lambda: datasets.make_moons(0, 10, 0.1),
        TypeError,
        ("make_moons", "key"),
    ),
    # ---- devices, io --------------------------------------------------------------------------
    Row(
        "fit_ensemble-devices-empty",
        lambda: fit_ens(devices=[]),
        ValueError,
        ("fit_ensemble", "devices"),
    ),
    Row("io-save-empty-path", lambda: io.save("", clf()[1]), ValueError, ("path",)),
    Row(
        "io-save-args-swapped",
        lambda: io.save(clf()[1], "params.npz"),
        TypeError,
        ("path", "(path, params)"),
    ),
    Row(
        "io-load-missing-file",
        lambda: io.load("/nonexistent/dir/params.npz"),
        (FileNotFoundError, OSError, ValueError),
        ("/nonexistent/dir/params.npz",),
    ),
    # ---- sweeps do what they say -------------------------------------------------------------
    Row(
        "sweep-schedule-hyperparameter",
        lambda: fit_ens(
            opt=inject_sgd(optax.linear_schedule(0.1, 0.01, 10)),
            hyperparams={"learning_rate": jnp.array([0.1, 0.2, 0.3])},
        ),
        ValueError,
        ("learning_rate", "schedule"),
    ),
    Row(
        "sweep-reg_strength-without-reg",
        lambda: fit_ens(hyperparams={"reg_strength": jnp.array([0.1, 0.2, 0.3])}),
        ValueError,
        ("reg_strength", "reg=None"),
    ),
    Row(
        "sweep-hyperparameter-of-plain-sgd",
        lambda: fit_ens(hyperparams={"learning_rate": jnp.array([0.1, 0.2, 0.3])}),
        ValueError,
        ("inject_hyperparams",),
    ),
    Row(
        "sweep-unknown-hyperparameter",
        lambda: fit_ens(opt=inject_sgd(0.1), hyperparams={"lr": jnp.array([0.1, 0.2, 0.3])}),
        ValueError,
        ("lr", "learning_rate"),
    ),
    Row(
        "sweep-wrong-length",
        lambda: fit_ens(opt=inject_sgd(0.1), hyperparams={"learning_rate": jnp.array([0.1, 0.2])}),
        ValueError,
        ("hyperparameter", "[2, 3]"),
    ),
    # ---- NaN in data or initial params is reported as such ----------------------------------
    Row(
        "fit-nan-in-x",
        lambda: fit_clf(x=np.where(X > 0.8, np.nan, X)),
        ValueError,
        ("fit", "x", "NaN"),
    ),
    Row(
        "fit-inf-in-target",
        lambda: train.fit(
            prob1()[0],
            bce(),
            optax.sgd(0.1),
            prob1()[1],
            X,
            np.where(T01 > 0, np.inf, T01),
            steps=2,
        ),
        ValueError,
        ("fit", "target", "inf"),
    ),
    Row(
        "fit-nan-initial-params",
        lambda: fit_clf(params=jax.tree.map(lambda a: a * np.nan, clf()[1])),
        ValueError,
        ("fit", "initial params", "NaN"),
    ),
    Row(
        "fit_ensemble-nan-initial-params",
        lambda: train.fit_ensemble(
            clf()[0],
            ce(),
            optax.sgd(0.1),
            jax.tree.map(lambda a: a * np.nan, ensemble_params()),
            X,
            LABELS,
            steps=2,
        ),
        ValueError,
        ("fit_ensemble", "NaN"),
    ),
    Row(
        "grad-nan-in-x",
        lambda: grad_clf(x=np.where(X > 0.8, np.nan, X)),
        ValueError,
        ("jaxnn.grad", "x", "NaN"),
    ),
    Row(
        "check_grads-nan-in-x",
        lambda: check_clf(x=np.where(X > 0.8, np.nan, X)),
        ValueError,
        ("check_grads", "NaN"),
    ),
    # ---- empty batches ------------------------------------------------------------------------
    Row(
        "fit-empty-batch", lambda: fit_clf(x=X[:0], target=LABELS[:0]), ValueError, ("fit", "empty")
    ),
    Row("grad-empty-batch", lambda: grad_clf(x=X[:0], target=LABELS[:0]), ValueError, ("empty",)),
    Row(
        "loss-empty-batch-under-jit",
        lambda: jax.jit(losses.mse.value)(jnp.zeros((0, 2)), jnp.zeros((0, 2))),
        ValueError,
        ("mse", "empty batch"),
    ),
    Row(
        "fit-x-and-target-lengths",
        lambda: fit_clf(target=LABELS[:4]),
        ValueError,
        ("fit", "6", "4"),
    ),
    # ---- users' vjp returning only dx ----------------------------------------------------------
    Row(
        "check_grads-vjp-returns-only-dx",
        lambda: jaxnn.check_grads(
            only_dx_layer(), losses.mse, only_dx_layer().init(KEY, (2,))[1], X, np.zeros((6, 2))
        ),
        (TypeError, ValueError),
        ("MyDense", "(dparams, dx)"),
    ),
    Row(
        "assert_layer_grads-vjp-returns-only-dx",
        lambda: jaxnn.testing.assert_layer_grads(only_dx_layer(), (2,)),
        (TypeError, ValueError, AssertionError),
        ("MyDense", "(dparams, dx)"),
    ),
    Row(
        "grad-vjp-returns-only-dx",
        lambda: jaxnn.grad(only_dx_layer(), losses.mse)(
            only_dx_layer().init(KEY, (2,))[1], X, np.zeros((6, 2))
        ),
        (TypeError, ValueError),
        ("MyDense", "(dparams, dx)"),
    ),
    # ---- training arguments --------------------------------------------------------------------
    Row("fit-steps-0", lambda: fit_clf(steps=0), ValueError, ("fit", "steps")),
    Row("fit-steps-float", lambda: fit_clf(steps=1.5), (TypeError, ValueError), ("steps",)),
    Row(
        "fit-backprop-typo",
        lambda: fit_clf(backprop="manaul"),
        ValueError,
        ("backprop", "'manaul'"),
    ),
    Row(
        "fit-dropout-without-key",
        lambda: train.fit(
            jaxnn.mlp([2, 3, 2], dropout=0.5),
            ce(),
            optax.sgd(0.1),
            jaxnn.mlp([2, 3, 2], dropout=0.5).init(KEY, (2,))[1],
            X,
            LABELS,
            steps=2,
        ),
        ValueError,
        ("key", "Dropout"),
    ),
    Row(
        "fit-batch-larger-than-data",
        lambda: fit_clf(batch_size=100, key=KEY),
        ValueError,
        ("batch_size", "100"),
    ),
    Row(
        "fit-validation-not-a-pair",
        lambda: fit_clf(validation=X),
        TypeError,
        ("validation", "pair"),
    ),
    Row(
        "fit-validation-label-out-of-range",
        lambda: fit_clf(validation=(X, np.array([0, 1, 2, 0, 1, 0]))),
        ValueError,
        ("label 2",),
    ),
    # ---- io: files, models, paths -----------------------------------------------------------
    Row(
        "io-load-not-a-params-file",
        lambda: io.load(os.path.join(files(), "notes.txt")),
        ValueError,
        ("notes.txt", "not a jaxnn params file"),
    ),
    Row(
        "io-load_model-of-params-only-file",
        lambda: io.load_model(os.path.join(files(), "params.npz")),
        ValueError,
        ("load_model", "no model", "model=model"),
    ),
    Row(
        "io-save-to-a-directory",
        lambda: io.save(files(), clf()[1]),
        ValueError,
        ("directory", "params.npz"),
    ),
    Row(
        "io-save-model-without-spec",
        lambda: io.save(
            os.path.join(files(), "custom.npz"),
            custom_init_dense().init(KEY, (2,))[1],
            model=custom_init_dense(),
        ),
        ValueError,
        ("Dense(3)", "no spec", "register_layer"),
    ),
    Row(
        "io-load-with-another-model",
        lambda: io.load(os.path.join(files(), "params.npz"), model=jaxnn.mlp([2, 4, 2])),
        ValueError,
        ("Dense(4)", "(2, 4)", "(2, 3)", "another model"),
    ),
    Row(
        "io-save-string-leaf",
        lambda: io.save(os.path.join(files(), "bad.npz"), {"w": "abc"}),
        TypeError,
        ("params['w']", "str"),
    ),
    # ---- constructors, specs, summary ---------------------------------------------------------
    Row(
        "serial-with-a-string",
        lambda: jaxnn.serial(jaxnn.Dense(2), "tanh"),
        TypeError,
        ("serial", "'tanh'"),
    ),
    Row(
        "mlp-activation-typo",
        lambda: jaxnn.mlp([2, 3, 2], activation="sigmod"),
        ValueError,
        ("'sigmod'", "sigmoid"),
    ),
    Row("mlp-one-size", lambda: jaxnn.mlp([2]), ValueError, ("mlp", "[2]")),
    Row("Dropout-negative-rate", lambda: jaxnn.Dropout(-0.1), ValueError, ("Dropout", "-0.1")),
    Row(
        "Dense-complex-input",
        lambda: dense3()[0].apply(dense3()[1], jnp.zeros((4, 2), jnp.complex64)),
        TypeError,
        ("Dense(3)", "complex64"),
    ),
    Row(
        "from_spec-unknown-layer",
        lambda: jaxnn.from_spec(["nope", []]),
        ValueError,
        ("from_spec", "nope"),
    ),
    Row(
        "losses-from_spec-negative-lam",
        lambda: losses.from_spec(["l2", [["lam", -1]]]),
        ValueError,
        ("l2", ">= 0"),
    ),
    Row(
        "summary-int-shape",
        lambda: jaxnn.summary(clf()[0], 2),
        TypeError,
        ("input_shape", "(2,)"),
    ),
    Row(
        "summary-uncalled-mlp",
        lambda: jaxnn.summary(jaxnn.mlp, (2,)),
        TypeError,
        ("mlp", "call it"),
    ),
    # ---- datasets -----------------------------------------------------------------------------
    Row(
        "xor-unknown-encoding",
        lambda: datasets.xor("bogus"),
        ValueError,
        ("xor", "'bogus'", "binary"),
    ),
    Row(
        "make_moons-negative-noise",
        lambda: datasets.make_moons(KEY, 10, -0.1),
        ValueError,
        ("make_moons", "noise"),
    ),
    Row(
        "make_moons-float-n",
        lambda: datasets.make_moons(KEY, 10.5, 0.1),
        TypeError,
        ("make_moons", "int", "10.5"),
    ),
    Row(
        "fit-int-key",
        lambda: fit_clf(key=0, batch_size=2),
        TypeError,
        ("key", "jax.random.key(0)"),
    ),
    Row("fit-log_every-0", lambda: fit_clf(log_every=0), ValueError, ("log_every",)),
    # ---- perceptron ---------------------------------------------------------------------------
    Row(
        "perceptron-pm1-labels",
        lambda: perceptron.train(perceptron.init(KEY, 2), X, 2 * LABELS - 1, epochs=2),
        ValueError,
        ("perceptron.train", "0 or 1", "(y + 1) // 2"),
    ),
]

# Messages no user can act on: the internals leaking through.
RAW = [
    "XlaRuntimeError",
    "MLIR",
    "jaxlib",
    "too many values to unpack",
    "has no attribute",
    "Incompatible shapes for broadcasting",
    "unhashable type",
    "object is not subscriptable",
    "object is not callable",
    "NoneType",
    "Traceback",
]
RAW_TYPES = (KeyError, AttributeError, IndexError, ZeroDivisionError, FloatingPointError)


def _param(row: Row):
    marks = (
        [pytest.mark.xfail(strict=False, reason=f"pending: {row.pending}")] if row.pending else []
    )
    return pytest.param(row, id=row.id, marks=marks)


def test_the_table_is_large_and_ids_are_unique():
    assert len(ROWS) >= 60
    assert len({row.id for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", [_param(row) for row in ROWS])
def test_bad_input_raises_a_clear_error(row: Row):
    with pytest.raises(Exception) as info:
        row.call()
    error = info.value
    message = str(error)
    assert not isinstance(error, RAW_TYPES) or isinstance(error, ValueError | TypeError), (
        f"raw {type(error).__name__}: {message}"
    )
    for raw in RAW:
        assert raw.lower() not in message.lower(), f"raw internals in the message: {message}"
    assert isinstance(error, row.error), (
        f"expected {row.error}, got {type(error).__name__}: {message}"
    )
    missing = [w for w in row.words if w.lower() not in message.lower()]
    assert not missing, f"message lacks {missing}: {message}"


# --------------------------------------------------------------------------------------------
# The rows that must *work* (the fix for a silent class is correct behaviour, not an error)
# --------------------------------------------------------------------------------------------


def test_int_learning_rate_in_inject_hyperparams_is_swept_as_floats():
    """inject_hyperparams(sgd)(learning_rate=1) used to truncate every swept rate to 0."""
    model, _ = clf()
    params = ensemble_params(2)
    rates = jnp.array([0.05, 0.5])
    swept, _ = train.fit_ensemble(
        model, ce(), inject_sgd(1), params, X, LABELS, steps=3, hyperparams={"learning_rate": rates}
    )
    for i, rate in enumerate([0.05, 0.5]):
        member = jax.tree.map(lambda a, i=i: a[i], params)
        alone, _ = train.fit(model, ce(), optax.sgd(rate), member, X, LABELS, steps=3)
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(swept), strict=True):
            np.testing.assert_allclose(a, b[i], rtol=1e-5, atol=1e-6)
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), swept, params)
    assert max(jax.tree.leaves(moved)) > 1e-3  # something was trained


def test_list_params_work_like_tuple_params():
    model, params = clf()
    g = jax.jit(jaxnn.grad(model, ce()))
    as_tuple, as_list = g(params, X, LABELS), g(list(params), X, LABELS)
    assert isinstance(as_list, list)
    for a, b in zip(jax.tree.leaves(as_tuple), jax.tree.leaves(as_list), strict=True):
        np.testing.assert_array_equal(a, b)


def test_scalar_hyperparameter_is_broadcast_to_every_member():
    model, _ = clf()
    params = ensemble_params(3)
    a, _ = train.fit_ensemble(
        model, ce(), inject_sgd(0.1), params, X, LABELS, steps=2, hyperparams={"learning_rate": 0.3}
    )
    b, _ = train.fit_ensemble(
        model, ce(), inject_sgd(0.1), params, X, LABELS, steps=2,
        hyperparams={"learning_rate": jnp.full((3,), 0.3)},
    )  # fmt: skip
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(u, v)


def test_long_file_names_and_names_without_a_directory_can_be_saved(tmp_path, monkeypatch):
    params = clf()[1]
    long_name = tmp_path / ("p" * 240 + ".npz")  # the temp name must not overflow NAME_MAX
    io.save(long_name, params)
    monkeypatch.chdir(tmp_path)
    io.save("bare.npz", params)
    for path in (long_name, "bare.npz"):
        loaded = io.load(path)
        for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(params), strict=True):
            np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([long_name.name, "bare.npz"])


def test_under_jit_impossible_labels_make_the_objective_nan_not_silent():
    """Under jit nothing can raise: the documented behaviour is NaN loss and gradient."""
    model, params = clf()
    bad = jnp.array([0, 1, 5, 0, 1, 0])
    value, grads = jax.jit(jaxnn.value_and_grad(model, ce()))(params, X, bad)
    assert np.isnan(value)
    assert all(np.isnan(leaf).any() for leaf in jax.tree.leaves(grads))
    auto = jax.jit(jaxnn.autodiff_grad(model, ce()))(params, X, bad)
    assert all(np.isnan(leaf).any() for leaf in jax.tree.leaves(auto))


# --------------------------------------------------------------------------------------------
# jaxnn.validate itself (the boundary checks the public functions share)
# --------------------------------------------------------------------------------------------


def test_validate_skips_value_checks_on_traced_arrays_but_not_shape_checks():
    seen = []

    def f(x, t):
        validate.check_data(ce(), x, t, where="f", model=clf()[0], params=clf()[1])
        seen.append(True)
        return x.sum()

    jax.jit(f)(jnp.asarray(np.where(X > 0.8, np.nan, X)), jnp.array([0, 1, 5, 0, 1, 0]))
    assert seen == [True]
    with pytest.raises(ValueError, match="6 examples but target has 4"):
        jax.jit(f)(jnp.asarray(X), jnp.array([0, 1, 1, 0]))


def test_validate_require_accepts_the_right_kinds():
    model, _ = clf()
    assert validate.require_layer(model, "w") is model
    assert validate.require_loss(losses.mse, "w") is losses.mse
    assert validate.require_regularizer(None, "w") is None
    assert validate.require_regularizer(losses.l2(0.1), "w") == losses.l2(0.1)
    opt = optax.chain(optax.clip(1.0), optax.adam(1e-3))
    assert validate.require_optimizer(opt, "w") is opt


def test_validate_pred_struct_is_cached_per_model_and_shapes():
    model, params = clf()
    validate._cached_pred_struct.cache_clear()
    a = validate.pred_struct(model, params, X)
    b = validate.pred_struct(jaxnn.mlp([2, 3, 2], activation="tanh"), params, np.zeros((6, 2)))
    assert a.shape == b.shape == (6, 2)
    assert validate._cached_pred_struct.cache_info().hits == 1
    members = validate.pred_struct(model, ensemble_params(3), X, members=True)
    assert members.shape == (6, 2)


def test_explain_nonfinite_finds_bce_on_logits_and_passes_valid_inputs():
    model, params = logit1()
    with pytest.raises(ValueError, match="logits"):
        validate.explain_nonfinite(model, bce(), params, X, T01, where="fit")
    model, params = prob1()
    assert validate.explain_nonfinite(model, bce(), params, X, T01, where="fit") is None


def test_error_messages_name_the_users_path_not_a_temp_name(tmp_path):
    target = tmp_path / "file-not-dir" / "params.npz"
    (tmp_path / "file-not-dir").write_text("I am a file")
    with pytest.raises(Exception) as info:
        io.save(target, clf()[1])
    assert "file-not-dir" in str(info.value)
    assert ".tmp" not in str(info.value)
    assert re.search(r"\.tmp|tmp[a-z0-9_]{6,}", str(info.value).replace(str(tmp_path), "")) is None


def test_every_gradient_path_keeps_float32_params_dtype_with_float64_data():
    """0.1's hand-written path promoted float32 params' grads to float64 with float64 data."""
    model, params = clf()
    with jax.enable_x64(True):
        x64 = jnp.asarray(X, jnp.float64)
        paths = {
            "grad": jaxnn.grad(model, ce(), reg=losses.l2(0.01)),
            "autodiff_grad": jaxnn.autodiff_grad(model, ce(), reg=losses.l2(0.01)),
            "value_and_grad": lambda *a: jaxnn.value_and_grad(model, ce())(*a)[1],
            "manual_vjp": jax.grad(
                lambda p, x, t: ce().value(jaxnn.manual_vjp(model).apply(p, x), t)
            ),
        }
        for name, g in paths.items():
            grads = jax.jit(g)(params, x64, LABELS)
            dtypes = {str(leaf.dtype) for leaf in jax.tree.leaves(grads)}
            assert dtypes == {"float32"}, (name, dtypes)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_validate_finds_nan_and_inf_in_every_float_dtype(dtype):
    import ml_dtypes  # noqa: F401  (registers bfloat16 with NumPy)

    dt = jnp.dtype(dtype)
    for bad in (np.nan, np.inf, -np.inf):
        x = np.array(X).astype(dt)
        x[3, 1] = bad
        with pytest.raises(ValueError, match=r"index \(3, 1\)"):
            validate.check_data(losses.mse, x, np.zeros((6, 2), dt), where="f")
    huge = np.full((6, 2), np.finfo(dt).max, dt)  # finite, though its sum overflows
    validate.check_data(losses.mse, huge, huge, where="f")


def test_perceptron_pm1_labels_make_params_nan_under_jit():
    params0 = perceptron.init(KEY, 2)
    run = jax.jit(functools.partial(perceptron.train, epochs=2))
    params, _ = run(params0, X, 2 * LABELS - 1)
    assert np.isnan(params["w"]).all()
    params, _ = run(params0, X, LABELS)  # 0/1 labels: finite, as before
    assert np.isfinite(params["w"]).all()
