"""chainrule.viz: gradient-flow diagrams of the computation graph."""
