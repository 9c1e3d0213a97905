"""Training the paper's networks: the datasets, the M and C nets as one vectorised ensemble,
the device path and the training loop that writes run directories."""
