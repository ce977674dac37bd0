"""OSC In DAT callbacks of the voyage_progress component.

Why so thin: the OSC In DAT calls this once per message ("Split Bundle into Messages" is on, so
each message of the sidecar's bundles arrives on its own); everything else happens in the
extension and the pure model, where it can be tested without TouchDesigner. ``peer`` (the
sender's address and port) is passed on: it tells two sidecars sending to this port apart.
"""


def onReceiveOSC(dat, rowIndex, message, bytes, timeStamp, address, args, peer):
    parent().ReceiveOSC(address, args, peer)  # noqa: F821 - TouchDesigner global
