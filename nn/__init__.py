"""chainrule.nn: modules, MLP, initialisation, losses, optimisers, data, training."""

from nn import init
from nn.layers import MLP, Layer, Neuron
from nn.module import Module, load

__all__ = ["MLP", "Layer", "Module", "Neuron", "init", "load"]
