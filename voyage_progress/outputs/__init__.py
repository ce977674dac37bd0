"""Where the sidecar's state goes: OSC, the terminal."""
