"""Execute DAT of the voyage_progress component: once a frame, the extension updates the
outputs, the display and the stale state; at start and exit, the sidecar's.

Why once a frame: staleness is the absence of messages, so it must be checked even when none
arrive; and cooking the Script CHOPs here keeps their channels current at one cook per frame.
Why onExit: a process started by TouchDesigner outlives it unless it is stopped.
"""


def onStart():
    parent().OnStart()  # noqa: F821 - TouchDesigner global


def onExit():
    parent().OnExit()  # noqa: F821 - TouchDesigner global


def onFrameStart(frame):
    parent().OnFrame()  # noqa: F821 - TouchDesigner global
