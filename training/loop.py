"""The training loop: a PyTorch port of train_video.lua (algorithm.md §10.2) and fns image training.

Video mode, per iteration:
1. draw a source and K (schedule, strict less-than rule); build K+1 frames, K flows, K masks (pre-space);
   min-filter the masks;
2. out_1 = zeros (`single_image`), the image network (`--image-model FILE`, frozen, no gradient), or the video
   network with an empty prior (`--image-model self`);
3. for s = 1..K: prior = warp(out_s.detach(), flow_s) ⊙ mask_s (+ fill), out_{s+1} = net([frame, prior, mask]);
4. loss on the last step only: perceptual(out_{K+1}, frame_{K+1}) + pixel_loss_weight · mean((y⊙c − p⊙c)²) in
   pre-space + TV; Adam step.

Image mode trains the 3-channel image network on single images with the perceptual loss and TV.

Fixes over the reference (documented): the logged loss includes the pixel loss; validation computes the pixel
loss, uses the right first frame per source and adds the fill; resume restores the optimizer and RNG states.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fav_core.errors import Cancelled, ConfigError, FavError, InputError, OutputError
from fav_core.modelfile import load_model
from fav_core.nets import build_transformer
from fav_core.nets.preprocess import preprocess
from fav_core.types import CancelToken
from fav_core.warp import warp_backward
from training.batches import SampleMaker
from training.checkpoints import TrainState, load_state, load_weights, read_header, save_state
from training.config import TrainConfig, learning_rate_at
from training.debug_images import save_debug_grid
from training.modelio import load_first_frame_model, save_training_model
from training.objective import PerceptualObjective, load_style_image
from training.sources import Sample

LOG = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint"


def min_filter(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Square min filter (erosion) of masks; outside pixels are ignored (cv2.erode border semantics).

    Args:
        mask: `(B, 1, H, W)` float.
        size: Odd kernel size; 1 = identity.

    Returns:
        `(B, 1, H, W)` new tensor.
    """
    if size <= 1:
        return mask.clone()
    return -F.max_pool2d(-mask, kernel_size=size, stride=1, padding=size // 2)


def pixel_loss(output: torch.Tensor, prior: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """Masked temporal loss mean(loss(y ⊙ c, p ⊙ c)) over all B·3·H·W elements, in pre-space."""
    a, b = output * mask, prior * mask
    if kind == "L2":
        return F.mse_loss(a, b)
    if kind == "L1":
        return F.l1_loss(a, b)
    return F.smooth_l1_loss(a, b, beta=1.0)


def _check_writable(folder: Path) -> None:
    """Create the run folder and write a probe file into it, so that a folder that cannot take checkpoints is
    refused before training starts rather than at the first checkpoint, hours later.

    Raises:
        OutputError: the folder cannot be created or written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(folder, f"cannot write the run folder ({exc.strerror or exc})") from None


class TrainingOutOfMemory(FavError):
    """An iteration needed more memory than the device has (the checkpoint on disk is whole; resume from it)."""


class TrainingDiverged(FavError):
    """The loss of an iteration is NaN or infinite (diverged training or non-finite data); nothing was applied."""


@dataclass
class StepResult:
    """Losses of one iteration (floats) plus the tensors for debug images."""

    losses: dict[str, float]
    images: dict[str, torch.Tensor]


class Trainer:
    """Owns the networks, optimizer, data and state of one run.

    Args:
        config: Validated training options.
        show_progress: Show a tqdm bar.
    """

    def __init__(self, config: TrainConfig, show_progress: bool = True) -> None:
        self.config = config
        self.show_progress = show_progress
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda: CUDA is not available on this machine")
        self.run_dir = config.output_path
        _check_writable(self.run_dir)
        torch.manual_seed(config.seed)
        self.data_rng = torch.Generator().manual_seed(config.seed + 1)
        self.net = build_transformer(
            config.arch,
            config.in_channels,
            norm="instance" if config.use_instance_norm else "batch",
            padding=config.padding_type,
            tanh_constant=config.tanh_constant,
        ).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=learning_rate_at(config.learning_rate, 1))
        style = load_style_image(config.style_image, config.style_image_size)
        self.objective = PerceptualObjective(config, style, self.device)
        self.train_data = SampleMaker(config, "train")
        self.val_data = self._val_maker()
        self.image_net = self._first_frame_net()
        self.state = TrainState(config=config.to_dict())
        self.saved_iteration = 0

    def _val_maker(self) -> SampleMaker | None:
        """The validation data, opened (and checked) before training; None when the files have no val split.

        Raises:
            ConfigError: the val split does not fit the options (e.g. images smaller than zoom_out needs).
        """
        if self.config.num_val_batches == 0:
            return None
        try:
            return SampleMaker(self.config, "val")
        except InputError as exc:  # e.g. an HDF5 built without validation images
            LOG.warning("no validation: %s", exc)
            return None

    def _first_frame_net(self) -> nn.Module | None:
        if self.config.mode == "image" or self.config.image_model == "self":
            return None
        return load_first_frame_model(self.config.image_model, self.device, self.config.preprocessing)

    # ----------------------------------------------------------------------------------------- one step
    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def _fill(self, mask: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Fill of the occluded prior pixels: 0 (`vgg-mean`) or preprocessed uniform noise ⊙ (1 − mask)."""
        if self.config.fill_occlusions == "vgg-mean":
            return torch.zeros(mask.shape[0], 3, *mask.shape[-2:], device=mask.device)
        noise = torch.rand(mask.shape[0], 3, *mask.shape[-2:], generator=generator).to(mask.device)
        return preprocess(noise, self.config.preprocessing) * (1.0 - mask)

    def _first_output(self, sample: Sample, first: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if sample.zero_first:
            return torch.zeros_like(first)
        if self.image_net is not None:
            return self.image_net(first).float()
        empty = torch.zeros(first.shape[0], 1, *first.shape[-2:], device=first.device)
        return self.net(torch.cat([first, self._fill(empty, generator), empty], dim=1)).float()

    def video_forward(self, sample: Sample, generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
        """Run the K-step recursion; returns (output, prior, mask, content) of the last step."""
        frames = [f.to(self.device) for f in sample.frames]
        flows = [f.to(self.device) for f in sample.flows]
        masks = [min_filter(m.to(self.device), self.config.reliable_map_min_filter) for m in sample.masks]
        with self._autocast():
            with torch.no_grad():
                out = self._first_output(sample, frames[0], generator)
            prior = mask = out
            for s in range(sample.steps):
                mask = masks[s]
                prior = warp_backward(out.detach().float(), flows[s]) * mask
                net_input = torch.cat([frames[s + 1], prior + self._fill(mask, generator), mask], dim=1)
                if s + 1 < sample.steps:
                    with torch.no_grad():
                        out = self.net(net_input).float()
                else:
                    out = self.net(net_input).float()
        return out, prior, mask, frames[-1]

    def losses(
        self, output: torch.Tensor, content: torch.Tensor, prior: torch.Tensor | None, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its parts: perceptual (content + style) + pixel (video) + TV."""
        with self._autocast():
            percep, parts = self.objective(output, content)
        total = self.config.percep_loss_weight * percep
        tv = self.objective.tv(output)
        total = total + tv
        parts = {**parts, "tv": float(tv.detach())}
        if prior is not None and mask is not None:
            pix = self.config.pixel_loss_weight * pixel_loss(output, prior, mask, self.config.pixel_loss_type)
            total = total + pix
            parts["pixel"] = float(pix.detach())
        parts["total"] = float(total.detach())
        return total, parts

    def step(self, iteration: int) -> StepResult:
        """One optimisation step at a (1-based) iteration."""
        self.net.train()
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate_at(self.config.learning_rate, iteration)
        if self.config.mode == "image":
            content = self.train_data.image_batch(self.data_rng).to(self.device)
            with self._autocast():
                output = self.net(content).float()
            total, parts = self.losses(output, content, None, None)
            images = {"input": content, "output": output}
        else:
            sample = self.train_data.sample(iteration, self.data_rng)
            output, prior, mask, content = self.video_forward(sample, self.data_rng)
            total, parts = self.losses(output, content, prior, mask)
            parts[f"source_{sample.source}"] = 1.0
            images = {"input": content, "warped_prior": prior, "mask": mask, "output": output}
        if not math.isfinite(parts["total"]):
            bad = ", ".join(f"{k}={v:.4g}" for k, v in parts.items() if not math.isfinite(v))
            raise TrainingDiverged(
                f"{self.run_dir}: iteration {iteration}: the loss is not finite ({bad}); nothing of this iteration "
                f"was applied, the last checkpoint is from iteration {self.saved_iteration} (lower "
                "--learning-rate or the loss weights, or check the data)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return StepResult(parts, {k: v.detach() for k, v in images.items()})

    # ----------------------------------------------------------------------------------------- validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean losses over `num_val_batches` batches of every source of the held-out split.

        The same batches are used every time (fixed generator, positions reset), so values are comparable.
        """
        config = self.config
        maker = self.val_data
        if maker is None:
            return {}
        maker.load_state({})  # the same batches every time
        generator = torch.Generator().manual_seed(config.seed + 1000)
        self.net.eval()
        totals: dict[str, float] = {}
        final_k = self.train_data.steps(config.num_iterations)
        count = 0
        for _ in range(config.num_val_batches):
            if config.mode == "image":
                content = maker.image_batch(generator).to(self.device)
                with self._autocast():
                    output = self.net(content).float()
                _, parts = self.losses(output, content, None, None)
            else:
                sample = maker.sample(config.num_iterations, generator, steps=final_k)
                output, prior, mask, content = self.video_forward(sample, generator)
                _, parts = self.losses(output, content, prior, mask)
            for key, value in parts.items():
                totals[key] = totals.get(key, 0.0) + value
            count += 1
        self.net.train()
        return {f"val_{k}": v / max(count, 1) for k, v in totals.items()}

    # ----------------------------------------------------------------------------------------- run
    def checkpoint_paths(self) -> tuple[Path, Path]:
        """(model file, training-state file) of this run."""
        return self.run_dir / f"{CHECKPOINT_NAME}.safetensors", self.run_dir / f"{CHECKPOINT_NAME}-state.safetensors"

    def save_checkpoint(self) -> Path:
        """Write the training state (weights included) and then the model file, each atomically.

        The state file alone is a whole snapshot, so a run killed between the two writes resumes exactly from it.
        """
        model_path, state_path = self.checkpoint_paths()
        self.state.data_state = self.train_data.state()
        save_state(state_path, self.optimizer, self.data_rng, self.state, weights=self.net.state_dict())
        save_training_model(model_path, self.net, self.config, self.state.iteration)
        self.saved_iteration = self.state.iteration
        return model_path

    def resume(self, run_dir: str | Path | None = None) -> None:
        """Restore model, optimizer, iteration, RNG and data positions from a run folder's checkpoint.

        The weights come from the state file (a whole snapshot); state files without weights (older runs) take
        them from the model file, which must then be at the same iteration.

        Raises:
            ConfigError: the checkpoint was made with different network options, or its model file and state
                file are from different iterations.
            InputError: no checkpoint in the folder, or a malformed one.
        """
        source = Path(run_dir) if run_dir else self.run_dir
        model_path = source / f"{CHECKPOINT_NAME}.safetensors"
        state_path = source / f"{CHECKPOINT_NAME}-state.safetensors"
        if not state_path.is_file():
            raise InputError(source, f"no checkpoint to resume from ({state_path.name} is missing)")
        header = read_header(state_path)
        for key in ("arch", "mode", "padding_type", "use_instance_norm", "tanh_constant", "preprocessing"):
            if header["config"].get(key) != getattr(self.config, key):
                raise ConfigError(f"{state_path}: checkpoint has {key}={header['config'].get(key)!r}, run has "
                                  f"{getattr(self.config, key)!r}")
        weights = load_weights(state_path)
        if not weights:
            model = load_model(model_path, device="cpu")
            model_iteration = model.meta.trained_with.get("iterations")
            if model_iteration != header["iteration"]:
                raise ConfigError(f"{model_path}: model file is at iteration {model_iteration}, its state file at "
                                  f"{header['iteration']} (the run stopped while writing a checkpoint)")
            weights = model.net.state_dict()
        try:
            self.net.load_state_dict(weights)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise InputError(state_path, f"weights do not fit the network ({first})") from None
        state = load_state(state_path, self.optimizer, self.data_rng)
        self.train_data.load_state(state.data_state)
        self.state = TrainState(state.iteration, state.history, state.data_state, self.config.to_dict(),
                                state.elapsed_s)
        self.saved_iteration = state.iteration
        LOG.info("resumed %s at iteration %d", source, state.iteration)

    def _record(self, iteration: int, parts: dict[str, float]) -> None:
        for key, value in parts.items():
            if math.isfinite(value):
                self.state.history.setdefault(key, []).append([float(iteration), value])

    def run(self, stop_at: int | None = None, cancel: CancelToken | None = None) -> TrainState:
        """Train from the current iteration to `num_iterations` (or `stop_at`), with checkpoints.

        Args:
            stop_at: Stop after this iteration (default `num_iterations`).
            cancel: Checked before every iteration; once cancelled, the last whole iteration is checkpointed
                (unless it already is) and :class:`Cancelled` is raised, so a resume continues exactly.

        Returns:
            The final training state (history included).

        Raises:
            Cancelled: `cancel` was set; the checkpoint of the last whole iteration is on disk.
            TrainingDiverged: the loss of an iteration is not finite.
            TrainingOutOfMemory: an iteration needed more memory than the device has.
        """
        from tqdm import tqdm

        from training.plots import plot_history

        config = self.config
        last = min(stop_at or config.num_iterations, config.num_iterations)
        start = self.state.iteration + 1
        bar = tqdm(range(start, last + 1), initial=start - 1, total=last, disable=not self.show_progress,
                   dynamic_ncols=True)
        began = time.monotonic() - self.state.elapsed_s
        for iteration in bar:
            if cancel is not None and cancel.cancelled:
                bar.close()
                self._checkpoint_on_stop()
                raise Cancelled(f"{self.run_dir}: stopped after iteration {self.state.iteration}; its checkpoint is "
                                "saved (add --resume to continue)")
            result = self._step_or_explain(iteration)
            self.state.iteration = iteration
            self.state.elapsed_s = time.monotonic() - began
            self._record(iteration, {k: v for k, v in result.losses.items() if not k.startswith("source_")})
            bar.set_postfix({k: f"{v:.3g}" for k, v in result.losses.items() if k in ("total", "style",
                                                                                        "content", "pixel")})
            if iteration % config.images_every == 1 or config.images_every == 1:
                save_debug_grid(self.run_dir / "debug" / f"iter_{iteration:06d}.png", result.images,
                                config.preprocessing)
            if iteration % config.val_every == 0 or iteration == last:
                val = self.validate()
                self._record(iteration, val)
                LOG.info("iteration %d: %s", iteration, " ".join(f"{k}={v:.4g}" for k, v in val.items()))
            if iteration % config.checkpoint_every == 0 or iteration == last:
                self.save_checkpoint()
                plot_history(self.state.history, self.run_dir / "loss_curve.png")
        return self.state

    def _step_or_explain(self, iteration: int) -> StepResult:
        """:meth:`step`, with running out of memory turned into one line that says what to change.

        Raises:
            TrainingOutOfMemory: torch could not allocate memory (CPU or CUDA).
        """
        try:
            return self.step(iteration)
        except RuntimeError as exc:  # torch.OutOfMemoryError (CUDA) is a RuntimeError too
            if not isinstance(exc, torch.OutOfMemoryError) and "can't allocate memory" not in str(exc):
                raise
            height, width = self.config.size_hw
            raise TrainingOutOfMemory(
                f"{self.run_dir}: iteration {iteration}: out of {self.device.type} memory with --batch-size "
                f"{self.config.batch_size} at --image-size {height}:{width} (lower them, or --crop-size); the last "
                f"checkpoint is from iteration {self.saved_iteration}"
            ) from None

    def _checkpoint_on_stop(self) -> None:
        """Checkpoint the last whole iteration when a run is stopped between checkpoints."""
        from training.plots import plot_history

        if self.state.iteration > self.saved_iteration or not self.checkpoint_paths()[1].is_file():
            self.save_checkpoint()
            plot_history(self.state.history, self.run_dir / "loss_curve.png")
