"""The topology of a LightningModule's filters while it trains: :class:`TopologyMonitor`.

::

    from cnntopo.integrations.lightning import TopologyMonitor

    trainer = L.Trainer(callbacks=[TopologyMonitor("runs/watch", every_n_train_steps=50)])

It records the weights at the start of training (step 0, or the step a resumed training
starts from), after every optimiser step that is a multiple of `every_n_train_steps`
(``trainer.global_step``, which gradient accumulation repeats: a repeated step is no new
snapshot) and at the end, into a run directory (:class:`cnntopo.training.watch.Watcher`). Only
the global-zero process records and logs. The readings go to every logger of the trainer
(``log_metrics``; text and the Klein-density picture where the logger's ``experiment`` has
``add_text`` / ``add_image``, as TensorBoard's has).

Needs Lightning (``pip install 'cnntopo[lightning]'``): ``lightning.pytorch``, else the older
``pytorch_lightning`` package.
"""

from __future__ import annotations

try:
    import lightning.pytorch as pl
except ImportError:  # pragma: no cover - the older package name
    try:
        import pytorch_lightning as pl
    except ImportError:
        raise ImportError("cnntopo.integrations.lightning needs Lightning: "
                          "pip install 'cnntopo[lightning]'") from None

from ..training.watch import Watcher

__all__ = ["TopologyMonitor", "LoggerWriter"]


class LoggerWriter:
    """A trainer's loggers as one writer for a :class:`~cnntopo.training.watch.Watcher`.

    Scalars go to every logger through ``log_metrics``; text and images to those whose
    ``experiment`` has ``add_text`` / ``add_image`` (TensorBoard, tensorboardX).
    """

    def __init__(self, loggers):
        self.loggers = list(loggers)

    def log_metrics(self, metrics, step):
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step)

    def _experiments(self, method):
        for logger in self.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, method):
                yield experiment

    def add_text(self, tag, text, step):
        for experiment in self._experiments("add_text"):
            experiment.add_text(tag, text, step)

    def add_image(self, tag, image, step, dataformats="HWC"):
        for experiment in self._experiments("add_image"):
            experiment.add_image(tag, image, step, dataformats=dataformats)

    def flush(self):
        for logger in self.loggers:
            logger.save()


class TopologyMonitor(pl.Callback):
    """Watch the topology of the model's conv filters during ``Trainer.fit``.

    Parameters
    ----------
    out_dir : path-like
        The run directory (``cnntopo describe / grid / report`` read it).
    every_n_train_steps : int
        A snapshot at every optimiser step that is a multiple of this.
    layers : None, int, str or list
        As :class:`~cnntopo.training.watch.Watcher`.
    log : bool
        Send the readings to the trainer's loggers.
    significance : bool
        At the end of training, the significance test (b0, b1) of every snapshot
        (:meth:`Watcher.close`); seconds per layer and snapshot.
    **watcher_options
        ``max_filters``, ``picture_every``, ``seed``, ``meta`` of the Watcher.
    """

    def __init__(self, out_dir, every_n_train_steps=50, layers=None, *, log=True,
                 significance=False, **watcher_options):
        super().__init__()
        self.out_dir = out_dir
        self.every_n_train_steps = every_n_train_steps
        self.layers = layers
        self.log = bool(log)
        self.significance = bool(significance)
        self.watcher_options = watcher_options
        self.watcher = None
        # the Watcher's arguments are checked now, not at the start of a long fit
        Watcher.check_options(every=every_n_train_steps, layers=layers, **watcher_options)

    def on_train_start(self, trainer, pl_module):
        if not trainer.is_global_zero:
            return
        loggers = list(getattr(trainer, "loggers", None) or [])
        writer = LoggerWriter(loggers) if self.log and loggers else None
        self.watcher = Watcher(self.out_dir, every=self.every_n_train_steps, layers=self.layers,
                               writer=writer, **self.watcher_options)
        self.watcher.step(pl_module, trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.watcher is not None:
            self.watcher.step(pl_module, trainer.global_step)

    def on_train_end(self, trainer, pl_module):
        if self.watcher is None:
            return
        self.watcher.step(pl_module, trainer.global_step, force=True)
        self.watcher.close(significance=self.significance, progress=False)
        self.watcher = None

    def on_exception(self, trainer, pl_module, exception):
        if self.watcher is not None and self.watcher.writer is not None:
            self.watcher.writer.flush()
        self.watcher = None
