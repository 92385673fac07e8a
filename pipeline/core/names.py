"""Names that several layers must spell the same way: registered models, aliases, sizes."""

GAN_MODEL = "stylecast-gan"
ENCODER_MODEL = "stylecast-encoder"               # embeds items for the styles
METRIC_MODEL = "stylecast-metric-classifier"     # judges generators and concepts
CANDIDATE_ALIAS = "candidate"  # every newly registered generator
ITEMS_DATASET = "items"        # the home's own ingested catalogue: what the weekly job uses
# Before each dataset had its own, one ``champion`` alias served every dataset; it is still
# read (for its own dataset only) so that older registries keep working, and never moved.
LEGACY_CHAMPION_ALIAS = "champion"


def champion_alias(dataset: str) -> str:
    """The alias of ``dataset``'s best generator: ``champion-items``, ``champion-fashion-mnist``."""
    return f"champion-{dataset.replace('_', '-')}"


def champion_uri(dataset: str) -> str:
    return f"models:/{GAN_MODEL}@{champion_alias(dataset)}"


CHAMPION_URI = champion_uri(ITEMS_DATASET)   # the generator the weekly concepts draw from

# The catalogue encoder's penultimate layer, and so the length of every stored embedding.
EMBEDDING_DIM = 128

# The ``kind`` of a style's series; its ``unique_id`` is ``style=<style id>``.
STYLE_KIND = "style"

# ``stylecast studio``'s default address; the weekly report links each concept there unless
# STYLECAST_STUDIO_URL says where a team's studio runs.
STUDIO_PORT = 8765
STUDIO_URL_ENV = "STYLECAST_STUDIO_URL"
DEFAULT_STUDIO_URL = f"http://127.0.0.1:{STUDIO_PORT}"

# The lock under which ingests commit and erasures rewrite the store (``core.locks``).
STORE_COMMIT_LOCK = "items.lock"
# On an MLflow run and the model versions it registered: the erasure that removed items it
# learned from (the model must be retrained; a clean generator is preferred as champion).
ERASED_TAG = "stylecast.trained_on_erased"
