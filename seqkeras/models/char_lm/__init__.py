"""Character-level language model: model, training, generation, scoring."""

from seqkeras.models.char_lm.causality import check_causal
from seqkeras.models.char_lm.char_generator import CharGenerator
from seqkeras.models.char_lm.char_language_model import CharLanguageModel
from seqkeras.models.char_lm.char_scorer import CharScorer
from seqkeras.models.char_lm.character_cross_entropy import CharacterCrossEntropy
from seqkeras.models.char_lm.evaluation import stream_bits_per_character
from seqkeras.models.char_lm.language_model_trainer import LanguageModelTrainer
from seqkeras.models.char_lm.sample_text_callback import SampleTextCallback
from seqkeras.models.char_lm.storage import char_lm_task, load_char_lm, save_char_lm, unpack_char_lm
