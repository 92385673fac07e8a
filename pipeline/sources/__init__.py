"""Data sources: each turns a real data set into the manifest contract (see ``manifest``)."""
