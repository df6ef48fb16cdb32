"""Training objectives, one module per objective, each with its formula in the docstring.

Import the objective you need from its module (e.g.
``upstream_distill.losses.masked_prediction``); a method's total loss is a
weighted sum chosen in its YAML.
"""
