"""jaxnn: declarative, functional neural networks on JAX with hand-written, checked backprop."""

from jaxnn import datasets, init, io, losses, perceptron, plot, testing, train
from jaxnn.backprop import autodiff_grad, grad, manual_vjp, value_and_grad
from jaxnn.gradcheck import GradReport, check_grads
from jaxnn.layers import Dense, Identity, Layer, ReLU, Sigmoid, Softmax, Step, Tanh, mlp, serial
from jaxnn.losses import Loss, Regularizer

__version__ = "0.1.0"

__all__ = [
    "Dense",
    "GradReport",
    "Identity",
    "Layer",
    "Loss",
    "ReLU",
    "Regularizer",
    "Sigmoid",
    "Softmax",
    "Step",
    "Tanh",
    "autodiff_grad",
    "check_grads",
    "datasets",
    "grad",
    "init",
    "io",
    "losses",
    "manual_vjp",
    "mlp",
    "perceptron",
    "plot",
    "serial",
    "testing",
    "train",
    "value_and_grad",
]
