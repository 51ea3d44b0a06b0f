"""Search spaces: one module per space, all implementing :class:`search_spaces.base.SearchSpace`."""
