"""ldm_vk: the PyTorch side of ldm-vk.

Load the checkpoints ``ldm-vk train`` writes (safetensors with ``ldm.*`` metadata) into PyTorch modules
with exactly their layouts, sample from them as ``ldm-vk sample`` does (DDIM / DDPM, classifier-free
guidance, eps and v prediction, linear / scaled_linear / cosine schedules, zero-terminal-SNR), fine-tune
them and write them back for ldm-vk. Needs only torch (and the standard library)::

    import ldm_vk
    run = ldm_vk.load_run("runs/fmnist")           # VAE + UNet (EMA weights), strict=True
    images, labels = ldm_vk.sample(run, n=40, steps=50, guidance=2.0, seed=0)

Command line: ``python3 -m ldm_vk.sample --ckpt runs/fmnist --out grid.png``; ``python3 -m ldm_vk.bench``
times the models' train steps in PyTorch.
"""
from .checkpoint import (ModelConfig, Run, ScheduleConfig, load_file, load_run, read_metadata, save_file,
                         save_weights)
from .images import grid_png, image_png, load_idx_dataset, read_png, to_u8, write_png
from .models import UNet, VAE, timestep_embedding
from .rng import random_normal, random_u32
from .sampling import ddim_timesteps, make_schedule, sample, sample_latents, sampler_coefficients, training_loss

__version__ = "0.1.0"
__all__ = ["ModelConfig", "Run", "ScheduleConfig", "load_file", "load_run", "read_metadata", "save_file",
           "save_weights", "grid_png", "image_png", "load_idx_dataset", "read_png", "to_u8", "write_png", "UNet",
           "VAE", "timestep_embedding", "random_normal", "random_u32", "ddim_timesteps", "make_schedule", "sample",
           "sample_latents", "sampler_coefficients", "training_loss"]
