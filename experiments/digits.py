"""Klein's next chapters on real data: the 8×8 handwritten digits, held out, with dropout.

python-course.eu's course goes on from the perceptron to a network trained on handwritten
digits (MNIST), a confusion matrix, and dropout. Here the 1 797 8×8 digits
(`jaxnn.datasets.digits`, pixels scaled to [0, 1]) are split once: 20 % test (never seen
until the end), 20 % of the rest validation (for early stopping), the rest training. An MLP is
trained with shuffled minibatches and Adam, without and with dropout, stopping early when the
validation objective stops improving (the best params are kept). Then many seeds in ONE
`fit_ensemble`: their test accuracies, and the ensemble's prediction, which averages the
members' predicted PROBABILITIES (not their accuracies) and takes the most probable digit.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.common import explain_paths
from experiments.spec import Ensemble, Experiment, Train
from jaxnn import datasets, losses, mlp, plot
from jaxnn.train import init_ensemble

BATCH, LR = 32, 3e-3
EPOCH = 35  # updates per epoch: 1 150 training images // 32
EPOCHS, PATIENCE = 30, 5  # at most 30 epochs; stop after 5 epochs without a better validation
MEMBERS, MEMBER_EPOCHS = 256, 10
DROPOUT = 0.2

loss = losses.softmax_cross_entropy()
plain = mlp([64, 64, 10], activation="relu")
dropout = mlp([64, 64, 10], activation="relu", dropout=DROPOUT)
small = mlp([64, 32, 10], activation="relu")  # the ensemble's members


@functools.cache
def _splits(dtype: str = "float32"):
    x, y = datasets.digits(scale=True, dtype=jnp.dtype(dtype))
    rest, test = datasets.split(jax.random.key(0), x, y, 0.2)
    train, val = datasets.split(jax.random.key(1), *rest, 0.2)
    return train, val, test


def train_set(cfg):
    return _splits()[0]


def validation_set(cfg):
    return _splits()[1]


def test_set(cfg):
    return _splits()[2]


def ensemble_probabilities(model, params, x):
    """The ensemble's prediction: the mean over members of each member's class probabilities.

    ``params`` has a leading member axis; returns ``(n_examples, classes)`` probabilities
    (``softmax`` of each member's logits, averaged over members, so each row sums to 1).
    """
    logits = jax.vmap(model.apply, (0, None))(params, x)
    return jnp.mean(jax.nn.softmax(logits, axis=-1), axis=0)


def confusion(labels, predicted, classes: int = 10) -> np.ndarray:
    """``counts[true, predicted]``."""
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predicted)), 1)
    return counts


def _epochs(step) -> str:
    return f"epoch {int(step) // EPOCH}"


def show_single(label: str):
    def show(result, ctx):
        explain_paths(ctx, result, adam=True)
        x_test, y_test = test_set(ctx.cfg)
        predicted = np.argmax(np.asarray(result.apply(result.params, x_test)), -1)
        test_acc = float(np.mean(predicted == np.asarray(y_test)))
        best = int(result.history.get("best_step", -1))
        stopped = int(result.history.get("stop_step", -1))
        val_acc = float(np.max(result.history["val_accuracy"]))
        when = f"stopped early at {_epochs(stopped)}" if stopped >= 0 else "ran every epoch"
        ctx.print(
            f"{label}: test accuracy {test_acc:.4f} ({len(y_test)} test images); best "
            f"validation accuracy {val_acc:.4f} at {_epochs(best)}; {when}"
        )
        ctx.compare(
            f"{label}: test accuracy (best params, early stopping on validation)",
            f"{test_acc:.4f}",
            key=f"{label.replace(' ', '_')}_test_accuracy",
            value=test_acc,
        )
        ctx.compare(f"{label}: params kept from", f"{_epochs(best)} (update {best}); {when}")
        ctx.record(f"{label.replace(' ', '_')}_best_step", best)
        ctx.record(f"{label.replace(' ', '_')}_stop_step", stopped)
        runs = ctx.shared.setdefault("digits", {})
        runs[label] = (result, predicted, test_acc)
        if label == "dropout":
            _figures(ctx, runs, y_test, x_test)

    return show


def _figures(ctx, runs, y_test, x_test):
    fig, axes = plot.figure(1, len(runs), size=(4.2, 3.4), sharey=True, squeeze=False)
    for ax, (name, (r, _, acc)) in zip(axes[0], runs.items(), strict=True):
        for key, color, what in (
            ("loss", "#0072B2", "training"),
            ("val_loss", "#D55E00", "validation"),
        ):
            plot.loss_curve(
                r.history, ax, key=key, color=color, label=what, logy=True,
                xlabel="update", ylabel="mean cross-entropy",
            )  # fmt: skip
        best = int(r.history.get("best_step", -1))
        if best >= 0:
            ax.axvline(best, color="k", ls=":", label="params kept (best validation)")
        ax.set_title(f"{name}: test accuracy {acc:.3f}")
    plot.legend_outside(fig)
    ctx.figure(
        fig,
        "loss_curves",
        "Digits: training and validation objective, without and with dropout; training stops "
        f"once validation has not improved for {PATIENCE} epochs",
        wide=True,
    )
    result, predicted, acc = runs["dropout"]
    ax = plot.confusion_matrix(
        confusion(y_test, predicted), title=f"dropout {DROPOUT:g}: test accuracy {acc:.3f}"
    )
    ctx.figure(
        ax.figure, "confusion", "Digits: confusion matrix of the dropout MLP on the test set"
    )
    wrong = np.flatnonzero(predicted != np.asarray(y_test))[:24]
    images = np.asarray(x_test)[wrong].reshape(-1, 8, 8)
    titles = [f"{int(y_test[i])} → {int(predicted[i])}" for i in wrong]
    fig = plot.image_grid(
        images, titles, ncols=8, title=f"misclassified test digits (true → predicted), "
        f"{len(wrong)} of {int(np.sum(predicted != np.asarray(y_test)))}",
    )  # fmt: skip
    ctx.figure(fig, "misclassified", "Digits: test images the dropout MLP gets wrong", wide=True)


def members(cfg) -> int:
    """256 seeds, or fewer when ``--seeds`` asks for fewer (a quick run)."""
    return min(MEMBERS, cfg.seeds)


_init = jax.jit(init_ensemble, static_argnums=(0, 2, 3))


def float32_init(model, seed: int):
    """``cfg -> params`` from the model's initializers, float32 whatever ``--dtype`` says."""
    init = jax.jit(model.init, static_argnums=1)
    return lambda cfg: init(jax.random.key(seed), (64,))[1]


def show_ensemble(result, ctx):
    explain_paths(ctx, result, adam=True)
    x_test, y_test = test_set(ctx.cfg)
    labels = np.asarray(y_test)
    logits = np.asarray(jax.jit(jax.vmap(small.apply, (0, None)))(result.params, x_test))
    per_member = np.mean(np.argmax(logits, -1) == labels, axis=1)
    probs = np.asarray(
        jax.jit(ensemble_probabilities, static_argnums=0)(small, result.params, x_test)
    )
    together = float(np.mean(np.argmax(probs, -1) == labels))
    n = len(per_member)
    lo, mid, hi = np.percentile(per_member, [10, 50, 90])
    ctx.print(
        f"{n} seeds in one fit_ensemble: test accuracy median {mid:.4f} (10–90 %: {lo:.4f}–"
        f"{hi:.4f}, best {per_member.max():.4f}); the ensemble's averaged probabilities: "
        f"{together:.4f}"
    )
    ctx.compare(
        f"ensemble of {n}: members' test accuracy, median (10–90 %)",
        f"{mid:.4f} ({lo:.4f}–{hi:.4f})",
    )
    ctx.compare(f"ensemble of {n}: mean of the members' accuracies", f"{per_member.mean():.4f}")
    ctx.compare(
        f"ensemble of {n}: accuracy of the averaged probabilities",
        f"{together:.4f}",
        key="ensemble_accuracy",
        value=together,
    )
    ctx.record("member_test_accuracy", per_member)
    fig, ax = plot.figure(size=(6.4, 3.8))
    ax.hist(per_member, bins=min(30, max(5, n // 4)), color=plot.CLASS_COLORS[0])
    ax.axvline(together, color="#D55E00", ls="--", label="ensemble (averaged probabilities)")
    ax.axvline(mid, color="k", ls=":", label="median member")
    ax.set_xlabel("test accuracy")
    ax.set_ylabel("members (count)")
    ax.set_title(f"Digits: {n} MLPs from different seeds, trained as one program")
    plot.legend_outside(fig)
    ctx.figure(fig, "ensemble", f"Digits: test accuracy of {n} seeds and of their average")


EXPERIMENT = Experiment(
    name="digits",
    title="Handwritten digits: held-out test set, minibatch Adam, dropout, early stopping, "
    "and 256 seeds at once",
    source="Bernd Klein, python-course.eu: “Training and Testing with MNIST”, “Confusion "
    "Matrix” and “Dropout Neural Networks”, on the 8×8 digits",
    url="https://python-course.eu/machine-learning/",
    notes="float32 (nothing here is compared digit by digit). 1 797 8×8 digits, pixels / 16; "
    f"split once: 359 test, 288 validation, 1 150 "
    f"training. 64-64-10 ReLU MLP, mean cross-entropy, `optax.adam({LR:g})`, shuffled "
    f"minibatches of {BATCH} ({EPOCH} updates an epoch), at most {EPOCHS} epochs, early "
    f"stopping after {PATIENCE} epochs without a better validation objective (best params "
    f"kept); with dropout: `mlp(..., dropout={DROPOUT:g})`. Ensemble: {MEMBERS} seeds (fewer "
    f"with a smaller `--seeds`) of a 64-32-10 MLP, {MEMBER_EPOCHS} epochs each, one "
    "`fit_ensemble`; its prediction averages the members' softmax probabilities.",
    parts=(
        Train(
            name="mlp",
            data=train_set,
            model=plain,
            loss=loss,
            optimizer=optax.adam(LR),
            params=float32_init(plain, 0),
            steps=EPOCHS * EPOCH,
            log_every=EPOCH,
            validation=validation_set,
            batch_size=BATCH,
            seed=1,
            patience=PATIENCE,
            show=show_single("no dropout"),
        ),
        Train(
            name="mlp_dropout",
            data=train_set,
            model=dropout,
            loss=loss,
            optimizer=optax.adam(LR),
            params=float32_init(dropout, 0),
            steps=EPOCHS * EPOCH,
            log_every=EPOCH,
            validation=validation_set,
            batch_size=BATCH,
            seed=1,
            patience=PATIENCE,
            show=show_single("dropout"),
        ),
        Ensemble(
            name="seeds",
            data=train_set,
            model=small,
            loss=loss,
            optimizer=optax.adam(LR),
            params=lambda cfg: _init(small, jax.random.key(2), members(cfg), (64,)),
            steps=MEMBER_EPOCHS * EPOCH,
            log_every=EPOCH,
            validation=validation_set,
            batch_size=BATCH,
            seed=3,
            show=show_ensemble,
        ),
    ),
)
