"""Label -> sequence generation: `build_captioner` (decode with `seqkeras.models.seq2seq.generate`) and
`CaptionerTask` (the network with its pixel scaling and caption vocabulary attached)."""

from seqkeras.models.captioner.captioner import build_captioner
from seqkeras.models.captioner.captioner_task import CaptionerTask
