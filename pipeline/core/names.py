"""Names that several layers must spell the same way: registered models, aliases, sizes."""

GAN_MODEL = "stylecast-gan"
ENCODER_MODEL = "stylecast-encoder"               # embeds items for the styles
METRIC_MODEL = "stylecast-metric-classifier"     # judges generators and concepts
CANDIDATE_ALIAS = "candidate"  # every newly registered generator
CHAMPION_ALIAS = "champion"    # the generator concepts are drawn from
CHAMPION_URI = f"models:/{GAN_MODEL}@{CHAMPION_ALIAS}"

# The catalogue encoder's penultimate layer, and so the length of every stored embedding.
EMBEDDING_DIM = 128

# The ``kind`` of a style's series; its ``unique_id`` is ``style=<style id>``.
STYLE_KIND = "style"
