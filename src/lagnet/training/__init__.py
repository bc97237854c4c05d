"""The gradient loop: the jitted step and its chunks under ``lax.scan`` (``steps.py``), the
host-side loop that validates, keeps the best weights, watches the clock and checkpoints, for
one run or a pack of runs trained as one program (``loop.py``), and the checkpoint
(``durable.py``). It knows nothing about model families: it trains any Equinox module a family
builds."""

from lagnet.training.durable import Checkpoint as Checkpoint
from lagnet.training.loop import train as train
from lagnet.training.loop import train_pack as train_pack
from lagnet.training.member import Member as Member
from lagnet.training.steps import lr_at as lr_at
from lagnet.training.steps import make_chunk as make_chunk
from lagnet.training.steps import make_optimizer as make_optimizer
from lagnet.training.steps import make_step as make_step
from lagnet.training.steps import masked_mse as masked_mse
