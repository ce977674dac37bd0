"""OSC In DAT callbacks of the voyage_progress component.

Why so thin: the OSC In DAT calls this once per message ("Split Bundle into Messages" is on, so
each message of the sidecar's bundles arrives on its own); everything else happens in the
extension and the pure model, where it can be tested without TouchDesigner.
"""


def onReceiveOSC(dat, rowIndex, message, bytes, timeStamp, address, args, peer):
    parent().ReceiveOSC(address, args)  # noqa: F821 - TouchDesigner global
