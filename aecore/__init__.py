"""aecore: data, models, training, checkpoints, metrics and projections for comparing two MNIST autoencoders."""
