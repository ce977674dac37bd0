"""The sidecar as a library: watch batches and send their progress as OSC from your own program.

>>> config = SidecarConfig(batch_ids=[job.id], destinations=[Destination("127.0.0.1", 7450)])
>>> sidecar = Sidecar(config, client)                      # doctest: +SKIP
>>> await sidecar.run(stop_event)                          # doctest: +SKIP

``voyage-progress watch`` is this, with its options as ``SidecarConfig`` fields. The OSC
namespace it sends is in ``docs/OSC.md`` and ``voyage_progress.outputs.osc``.
"""

from ..outputs.osc import Destination
from ..outputs.terminal import SidecarView
from ..watcher import Intervals, WatchedBatch
from ._sidecar import Sidecar, SidecarConfig

__all__ = ["Destination", "Intervals", "Sidecar", "SidecarConfig", "SidecarView", "WatchedBatch"]
