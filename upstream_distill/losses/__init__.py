"""Training objectives, one module per objective, each with its formula in the docstring.

Import the objective you need from its module (e.g.
``upstream_distill.losses.masked_prediction``); a method's total loss is a
weighted sum chosen in its YAML.  STaR's three objectives (temporal Gram
matrices and average attention maps) are also exported here.
"""
from upstream_distill.losses.attention_map import LOG_EPS, attention_map_loss
from upstream_distill.losses.intra_layer_gram import consecutive_pairs, intra_layer_tgm_loss
from upstream_distill.losses.temporal_gram import NORMALIZATIONS, gram_distance, layerwise_tgm_loss, temporal_gram

__all__ = ["LOG_EPS", "NORMALIZATIONS", "attention_map_loss", "consecutive_pairs", "gram_distance",
           "intra_layer_tgm_loss", "layerwise_tgm_loss", "temporal_gram"]
