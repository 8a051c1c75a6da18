"""Label -> sequence generation: `build_captioner` (decode with `seqkeras.models.seq2seq.generate`)."""

from seqkeras.models.captioner.captioner import build_captioner
