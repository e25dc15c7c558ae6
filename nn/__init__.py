"""chainrule.nn: modules, MLP, initialisation, losses, optimisers, data, training."""
