"""cnntopo inside other training frameworks, each imported only when used.

- :mod:`cnntopo.integrations.lightning`: ``TopologyMonitor``, a Lightning callback
  (``pip install 'cnntopo[lightning]'``);
- :mod:`cnntopo.integrations.keras`: ``TopologyMonitor``, a Keras 3 callback
  (``pip install 'cnntopo[keras]'``; ``KERAS_BACKEND=torch`` is enough, no TensorFlow).

Both drive a :class:`cnntopo.training.watch.Watcher`; a plain PyTorch loop uses it directly.
"""
