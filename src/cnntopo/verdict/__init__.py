"""One analysis of a cloud (filters + spec -> one plain result), the verdict rows and table,
the JSON records other tools read, and the atlas of ImageNet CNNs."""
