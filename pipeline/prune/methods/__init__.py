"""One module per pruning method; importing a module registers its method (see ``registry``)."""
