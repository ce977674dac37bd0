"""Parameter Execute DAT of the voyage_progress component: its pulse buttons.

Why only pulses: every other parameter is read where it is used (the OSC ports follow theirs
by expression), so there is nothing to react to when one changes.
"""


def onPulse(par):
    parent().OnPulse(par)  # noqa: F821 - TouchDesigner global
