"""Strategy-aware training: one custom loop for the default, mirrored and multi-worker strategies."""

from seqkeras.distribute.checkpoints import ChiefCheckpointManager, CorruptCheckpointError
from seqkeras.distribute.replica_losses import masked_token_replica_loss
from seqkeras.distribute.sharding import split_global_batches
from seqkeras.distribute.strategy import KINDS, barrier, is_chief, make_strategy, worker_index
from seqkeras.distribute.strategy_trainer import StrategyTrainer
