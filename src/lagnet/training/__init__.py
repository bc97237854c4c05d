"""The gradient loop: the jitted step, its chunks under ``lax.scan``, and the host-side loop
that validates, keeps the best weights and watches the clock (``loop.py``). It knows nothing
about model families: it trains any Equinox module a family builds."""

from lagnet.training.loop import lr_at as lr_at
from lagnet.training.loop import make_chunk as make_chunk
from lagnet.training.loop import make_optimizer as make_optimizer
from lagnet.training.loop import make_step as make_step
from lagnet.training.loop import masked_mse as masked_mse
from lagnet.training.loop import train as train
