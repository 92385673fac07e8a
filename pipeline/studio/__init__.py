"""``stylecast studio``: the design controls in a web page (``app``), over this week's
rising styles (``content``)."""
