"""Designs a designer steers: controls over the champion generator, records that redraw
every design bit for bit, the board of saved designs (``session``, ``records``, ``checks``)."""
