"""Label + sequence -> sequence: `build_seq2seq`, the `ConditionalDecoder` and `generate`."""

from seqkeras.models.seq2seq.conditional_decoder import ConditionalDecoder
from seqkeras.models.seq2seq.generation import context_model, generate
from seqkeras.models.seq2seq.seq2seq import build_seq2seq
