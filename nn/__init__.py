"""chainrule.nn: modules, MLP, initialisation, losses, optimisers, data, training.

Example (micrograd's moons demo)::

    from chainrule import autograd, nn

    X, y = nn.make_moons(100, noise=0.1, seed=1)
    model = nn.MLP(2, [16, 16, 1], seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=1.0)
    schedule = nn.schedules.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=100)

    def loss(scores, labels):
        return nn.functional.hinge_loss(scores, labels) + 1e-4 * autograd.sum(p * p for p in model.parameters())

    history = nn.fit(model, X, 2 * y - 1, loss=loss, optimizer=opt, schedule=schedule, epochs=100)
"""

from chainrule.nn import data, functional, init, optim, schedules
from chainrule.nn.data import make_blobs, make_circles, make_moons, make_spirals, train_test_split
from chainrule.nn.layers import MLP, Layer, Neuron
from chainrule.nn.module import ModelFileError, Module, load
from chainrule.nn.training import History, accuracy, fit, grad_stats

__all__ = [
    "MLP",
    "History",
    "Layer",
    "ModelFileError",
    "Module",
    "Neuron",
    "accuracy",
    "data",
    "fit",
    "functional",
    "grad_stats",
    "init",
    "load",
    "make_blobs",
    "make_circles",
    "make_moons",
    "make_spirals",
    "optim",
    "schedules",
    "train_test_split",
]
