"""The sidecar as a library: watch batches and send their progress as OSC from your own program.

>>> config = SidecarConfig(batch_ids=[job.id], destinations=[Destination("127.0.0.1", 7450)])
>>> sidecar = Sidecar(config, client)                      # doctest: +SKIP
>>> await sidecar.run(stop_event)                          # doctest: +SKIP

``voyage-progress watch`` is this, with its options as ``SidecarConfig`` fields. The OSC
namespace it sends is in ``docs/OSC.md`` and ``voyage_progress.osc``.
"""

from ._sidecar import Sidecar, SidecarConfig
from ._view import SidecarView
from ._watcher import Intervals, WatchedBatch
from .osc import Destination

__all__ = ["Destination", "Intervals", "Sidecar", "SidecarConfig", "SidecarView", "WatchedBatch"]
