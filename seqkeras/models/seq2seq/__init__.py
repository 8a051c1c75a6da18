"""Label + sequence -> sequence: `build_seq2seq`, the `ConditionalDecoder`, `generate` and
`Seq2SeqTask` (the network with its source/target character vocabularies attached)."""

from seqkeras.models.seq2seq.conditional_decoder import ConditionalDecoder
from seqkeras.models.seq2seq.generation import context_model, generate
from seqkeras.models.seq2seq.seq2seq import build_seq2seq
from seqkeras.models.seq2seq.seq2seq_task import Seq2SeqTask
