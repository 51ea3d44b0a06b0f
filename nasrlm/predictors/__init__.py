"""Predictors behind one protocol (nasrlm.core.predictor): the RLM adapted to a space's architectures,
and a registry that builds the RLM and every baseline by name. Above nasrlm.rlm, baselines and the spaces."""
