"""The series stage: weekly shares per attribute value and per style (``transforms``, pure),
measured on the store and written by ``run``."""
