"""Where filters come from: weights files in every format, downloads, pretrained nets, run
directories, spatial filters out of any of them, and natural image patches."""
