"""Sequence layers: Keras 3, serialisable, mask-aware.

Cells follow the Keras cell protocol (`state_size`, `call(inputs, states, training=None)`)
and run under `keras.layers.RNN`; sequence layers take `[batch, time, features]` inputs
with an optional `[batch, time]` padding mask.
"""

from seqkeras.layers.elman_cell import ElmanCell
from seqkeras.layers.last_valid_step import LastValidStep
from seqkeras.layers.lstm import LSTM
from seqkeras.layers.lstm_cell import LSTMCell
from seqkeras.layers.masked_pooling import MaskedPooling
from seqkeras.layers.packed_rnn import PackedRNN
from seqkeras.layers.self_attention_block import SelfAttentionBlock
from seqkeras.layers.temporal_conv_stack import TemporalConvStack
