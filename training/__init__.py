"""Training of image and video style models (a PyTorch port of the reference train_video, algorithm.md §10-11).

Modules: config (options), sources (synthetic and real-video data, reference semantics), batches (per-iteration
samples), datasets (HDF5 builders), objective (perceptual loss), loop (Trainer), checkpoints (resumable state),
modelio (model files), debug_images, plots, cli (`python -m training`, `fav train`).
"""
