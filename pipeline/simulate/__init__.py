"""The replay simulator: simulated timelines over real images, with planted ground truth."""
