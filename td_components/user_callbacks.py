"""Your callbacks for the voyage_progress component: edit them freely.

The builder creates this DAT once and never overwrites it. Each function gets the component
and a dict ``info``: for batches the slot's fields (``slot``, ``id``, ``label``, ``status``,
``percent``, ``completed``, ``failed``, ``total``, ``error``...), for the sidecar ``heartbeat_age``
and ``running``. A batch's end is announced once, even if the sidecar restarts and says it again.
Delete a function you do not need. An exception here is printed, never fatal.
"""


def onBatchComplete(comp, info):
    print(f"{comp.name}: batch {info['label'] or info['id']} completed ({info['completed']} requests)")


def onBatchFailed(comp, info):
    print(f"{comp.name}: batch {info['label'] or info['id']} failed: {info['error']}")


def onBatchCancelled(comp, info):
    return


def onSidecarOffline(comp, info):
    print(f"{comp.name}: the sidecar is offline (no heartbeat for {info['heartbeat_age']:.0f} s)")


def onSidecarOnline(comp, info):
    return


def onSidecarRestart(comp, info):
    return
