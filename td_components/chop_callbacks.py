"""Script CHOP callbacks of the voyage_progress component, shared by its two Script CHOPs.

Why shared: ``selected`` (the chosen batch, fixed channel names) and ``slots`` (every slot and
the summary) differ only in which channels they ask the extension for. One sample per channel;
the extension cooks both once a frame.
"""


def onSetupParameters(scriptOp):
    return


def onPulse(par):
    return


def onCook(scriptOp):
    comp = parent()  # noqa: F821 - TouchDesigner global
    channels = comp.SelectedChannels() if scriptOp.name == "selected" else comp.SlotChannels()
    scriptOp.clear()
    scriptOp.numSamples = 1
    for name, value in channels.items():
        scriptOp.appendChan(name)[0] = value
