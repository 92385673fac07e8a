"""The report stage: ``content`` decides what the week's report says, ``charts`` and
``render`` draw it (all pure); ``run`` gathers the week's outputs and publishes the folder."""
