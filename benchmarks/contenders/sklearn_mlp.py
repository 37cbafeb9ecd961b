"""scikit-learn's ``MLPClassifier``, what a user who wants "a small MLP on digits" picks instead.

Same sizes, ReLU, ``solver="adam"`` at the same rate, ``batch_size=32``, no L2 (``alpha=0``),
shuffled. Validation every epoch is written the way scikit-learn users write it: one
``partial_fit`` per epoch (one shuffled pass over the training set), then ``predict_proba`` on
the held-out set. Differences that scikit-learn does not let a user change, so the final
accuracy differs a little from the other rows: it shuffles with its own random state (not the
shared order), it also trains on the ragged last batch of each epoch (45 updates an epoch, not
44), and its Adam adds epsilon to sqrt(v) before bias correction (the paper's "efficient"
form). It does start from the shared initial weights: they are put where its first
``partial_fit`` would have drawn its own (the attributes its ``_initialize`` sets; checked
against scikit-learn's own first pass in ``tests/test_benchmarks.py``).
"""

from __future__ import annotations

import numpy as np
from sklearn.neural_network import MLPClassifier

from benchmarks.contenders.minibatch import epochs_and_batches
from benchmarks.workloads import Workload


def make_classifier(spec: Workload, seed: int = 0) -> MLPClassifier:
    """The classifier. Its ``random_state`` is a ``RandomState`` object, not an int: each
    ``partial_fit`` re-seeds from an int, so every epoch would repeat the first one's order."""
    return MLPClassifier(
        hidden_layer_sizes=tuple(spec.sizes[1:-1]),
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=spec.batch_size,
        learning_rate_init=spec.lr,
        shuffle=True,
        random_state=np.random.RandomState(seed),
    )


def set_initial_weights(clf: MLPClassifier, spec: Workload, init, classes) -> None:
    """Start ``clf`` from ``init``: what ``MLPClassifier._initialize`` would set on the first
    ``partial_fit``, with our weights in place of its draws (so that call then trains)."""
    clf.n_iter_, clf.t_ = 0, 0
    clf.n_outputs_ = len(classes)
    clf.n_layers_ = len(spec.sizes)
    clf.out_activation_ = "softmax"
    clf.coefs_ = [np.array(layer["w"], copy=True) for layer in init]
    clf.intercepts_ = [np.array(layer["b"], copy=True) for layer in init]
    clf._best_coefs = [c.copy() for c in clf.coefs_]
    clf._best_intercepts = [b.copy() for b in clf.intercepts_]
    clf.loss_curve_, clf._no_improvement_count = [], 0
    clf.best_loss_, clf.validation_scores_, clf.best_validation_score_ = np.inf, None, None


def train(spec: Workload, data, init, steps):
    if spec.ensemble or spec.hidden != "relu" or spec.output != "logits":
        raise NotImplementedError("the sklearn contender runs the digits classifier (W5)")
    epochs, _ = epochs_and_batches(spec, data, steps)
    x, y, xv, yv = data["X"], data["y"], data["X_val"], data["y_val"]
    classes = np.arange(spec.sizes[-1])
    clf = make_classifier(spec)
    set_initial_weights(clf, spec, init, classes)
    for _ in range(epochs):
        clf.partial_fit(x, y, classes=classes)
        proba = clf.predict_proba(xv)
        val_loss = -np.mean(np.log(np.maximum(proba[np.arange(len(yv)), yv], 1e-12)))
        val_acc = np.mean(classes[proba.argmax(axis=1)] == yv)
        del val_loss, val_acc  # logged by a user; computed here so the work is the same
    return [{"w": w, "b": b} for w, b in zip(clf.coefs_, clf.intercepts_, strict=True)]


TRAINERS = {"sklearn": train}
