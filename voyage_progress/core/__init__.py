"""The domain, below every other layer: the API's objects (``models``), progress (``events``,
``metrics``), what outputs are given (``frame``) and what receivers may ask (``commands``),
errors, and the rules for text, limits, peers and formatting. Pure: no network, no files, no
clock of its own."""
