"""The conditional GAN: networks, losses, training loop, sampling and image metrics."""
