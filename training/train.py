"""Train the denoiser on generated images and export it to ONNX.

    python training/train.py --out DIR [--minutes M | --steps S] [--seed 0] [--channels 1|3]
                             [--device cpu|cuda] [--width 16] [--quantize]

What it does (docs/training.md has the measured figures):

1. seeds torch and the data generator (batch i comes from SeedSequence(seed, spawn_key=(i,)));
2. trains model.Denoiser on training/data.py's dead-leaves images with Adam, a cosine
   learning-rate schedule (after a short linear warm-up) and an L1 (default) or L2 loss;
3. every --val-every steps measures the PSNR on a fixed validation set (16 generated
   images, 96 x 96, at sigma 15, 25 and 50 / 255, the same for every run) and logs it to
   DIR/log.csv and stdout with the training loss and the speed;
4. saves DIR/checkpoint.pt every --checkpoint-every steps and at the end (--resume goes on
   from it; --stop-at STEP ends a piece of a long run there, and the pieces give the
   uninterrupted run's bits);
5. exports DIR/denoiser_fp32.onnx and DIR/denoiser_fp16.onnx (export.py), checks them with
   onnx.checker and against PyTorch with ONNX Runtime when it is installed;
6. with --quantize, writes INT8 versions (quantize.py) and reports their size, PSNR and speed;
7. writes DIR/summary.json.

--steps S gives the same run on every machine with the same thread count; --minutes M
stops after M minutes of training (the schedule follows the elapsed time), so the number
of steps depends on the machine's speed and load.
"""

from __future__ import annotations

import os

# Idle OpenMP threads must sleep, not spin: with the default (spin a while before
# sleeping) PyTorch's threads busy-wait between the many small parallel regions of a
# training step and, on a shared 2-core machine, take the cores from each other and from
# the data generator, which slowed training several-fold. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import data as gen  # noqa: E402
from training import export  # noqa: E402
from training import pnp_inputs  # noqa: E402
from training.model import Denoiser, parameter_count  # noqa: E402

LOG_FIELDS = [
    "step",
    "elapsed_s",
    "lr",
    "loss",
    "s_per_step",
    "images_per_s",
    "data_wait_s_per_step",
    "val_psnr_15",
    "val_psnr_25",
    "val_psnr_50",
]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="output directory (created)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="train for this many minutes (default 3 if --steps is not given)")
    budget.add_argument("--steps", type=int, help="train for this many steps (reproducible)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--channels", type=int, default=3, choices=(1, 3))
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--width", type=int, default=16, help="channels of the first level (16: 1.06 M parameters; 32 or 64 for a GPU)")
    p.add_argument("--levels", type=int, default=3, help="down-samplings: H and W must be multiples of 2**levels")
    p.add_argument("--blocks", type=int, default=2, help="residual blocks per level and side")
    p.add_argument("--extra", type=int, default=0,
                   help="grown blocks per side at every level but the bottom (training/grow.py): fine-tunes "
                        "of a grown checkpoint give its --extra")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--patch", type=int, default=64, help="training image side (a multiple of 2**levels)")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (cosine decay to lr/100)")
    p.add_argument("--warmup", type=float, default=0.02, help="linear warm-up, as a fraction of the run")
    p.add_argument("--loss", default="l1", choices=("l1", "l2"))
    p.add_argument("--varying-noise", type=float, default=0.25, help="fraction of images with a spatially varying sigma map")
    p.add_argument("--val-every", type=int, default=200, help="validate every this many steps (and at the start and end)")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--workers", type=int, help="data-generating processes (default: 0 on cpu, cores - 2 on cuda)")
    p.add_argument("--threads", type=int, help="PyTorch threads (default: the cores not given to workers)")
    p.add_argument("--scenes", default="v1", choices=sorted(gen.SCENES),
                   help="the scene distribution (training/data.py SCENES; v2 adds thin lines and smooth low-contrast surfaces, "
                        "v3 also fine streak textures, v4 v2 plus masonry)")
    p.add_argument("--noise-law", default="uniform", choices=gen.NOISE_LAWS,
                   help="the white noise's level: uniform in [0, 50/255] (DRUNet's), or log-uniform in [0.5, 50]/255 "
                        "(more of the low levels where plug-and-play ends)")
    p.add_argument("--channel-correlation", type=float, default=0.0, metavar="R",
                   help="colour: each image's white noise correlated between channels with a rho uniform in [0, R] "
                        "(a camera's demosaicing and JPEG's chroma subsampling correlate it); 0: independent")
    p.add_argument("--pnp-fraction", type=float, default=0.0,
                   help="fraction of each batch whose input is plug-and-play's: the data step's output at a random "
                        "step of unblur's PnP schedule on a blurred copy (training/pnp_inputs.py); 0: white noise only")
    p.add_argument("--pnp-first-step", type=int, default=0,
                   help="with --pnp-fraction: the earliest schedule step drawn (0-7; the steps are uniform from it to 7)")
    p.add_argument("--pnp-previous", default="model", choices=("model", "clean"),
                   help="with --pnp-fraction: the previous step's estimate z_k-1: 'model' (the model's own PnP "
                        "chain) or 'clean' (a perfect step: the input's error is only the noise coloured by the "
                        "data step)")
    p.add_argument("--unrolled", type=float, default=0.0,
                   help="fraction of each batch (after the --pnp-fraction images) trained end to end through the "
                        "whole PnP schedule: the loss is on PnP's final estimate of a blurred, noisy copy, with "
                        "gradients through every step (training/pnp_inputs.py unrolled); 0: not used")
    p.add_argument("--init", type=Path, metavar="CHECKPOINT",
                   help="start from this checkpoint's weights (a fine-tune: new optimizer, schedule and step count)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    p.add_argument("--stop-at", type=int, metavar="STEP",
                   help="with --steps: stop after this step, saving DIR/checkpoint.pt and exporting nothing, so a "
                        "long run goes in pieces (the same command with --resume goes on; the weights are those of "
                        "an uninterrupted run)")
    p.add_argument("--amp", action="store_true", help="cuda: bfloat16 autocast")
    p.add_argument("--quantize", action="store_true", help="also write INT8 models (onnxruntime.quantization) and report them")
    p.add_argument("--no-export", action="store_true", help="skip the ONNX export")
    args = p.parse_args(argv)
    if args.minutes is None and args.steps is None:
        args.minutes = 3.0
    if args.extra < 0:
        p.error(f"--extra must be >= 0, got {args.extra}")
    if args.patch % 2**args.levels:
        p.error(f"--patch {args.patch} is not a multiple of 2**levels = {2**args.levels}")
    if not 0.0 <= args.channel_correlation <= 1.0:
        p.error(f"--channel-correlation {args.channel_correlation} is not in [0, 1]")
    if args.channel_correlation > 0 and args.channels == 1:
        p.error("--channel-correlation needs --channels 3")
    if not 0.0 <= args.pnp_fraction <= 1.0:
        p.error(f"--pnp-fraction {args.pnp_fraction} is not in [0, 1]")
    if args.pnp_fraction > 0 and round(args.pnp_fraction * args.batch_size) == 0:
        p.error(f"--pnp-fraction {args.pnp_fraction} gives no image of a batch of {args.batch_size}")
    if args.pnp_fraction > 0 and args.patch < pnp_inputs.PSF_SIZE:
        p.error(f"--pnp-fraction needs --patch >= {pnp_inputs.PSF_SIZE} (the largest PSF), got {args.patch}")
    if not 0 <= args.pnp_first_step < pnp_inputs.ITERATIONS:
        p.error(f"--pnp-first-step {args.pnp_first_step} is not in [0, {pnp_inputs.ITERATIONS - 1}]")
    if not 0.0 <= args.unrolled <= 1.0 or args.unrolled + args.pnp_fraction > 1.0:
        p.error(f"--unrolled {args.unrolled} is not in [0, 1 - pnp_fraction]")
    if args.unrolled > 0 and round(args.unrolled * args.batch_size) == 0:
        p.error(f"--unrolled {args.unrolled} gives no image of a batch of {args.batch_size}")
    if args.unrolled > 0 and args.patch < pnp_inputs.PSF_SIZE:
        p.error(f"--unrolled needs --patch >= {pnp_inputs.PSF_SIZE} (the largest PSF), got {args.patch}")
    if args.pnp_previous != "model" and args.pnp_fraction == 0:
        p.error("--pnp-previous needs --pnp-fraction > 0")
    if args.stop_at is not None and (args.steps is None or not 0 < args.stop_at):
        p.error(f"--stop-at needs --steps and a step > 0, got --stop-at {args.stop_at}")
    if args.init is not None and not args.init.is_file():
        p.error(f"--init {args.init}: no such checkpoint")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device (or a CPU-only PyTorch)")
    return args


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class TrainingBatches(torch.utils.data.Dataset):
    """Item i = training batch i (data.training_batch): deterministic, so the run does not
    depend on the number of worker processes."""

    def __init__(self, seed: int, batch_size: int, patch: int, channels: int, p_varying: float, scenes: str = "v1",
                 pnp_count: int = 0, pnp_first_step: int = 0, noise_law: str = "uniform",
                 channel_correlation: float = 0.0):
        self.seed, self.batch_size, self.patch, self.channels, self.p_varying = seed, batch_size, patch, channels, p_varying
        self.scenes, self.pnp_count, self.pnp_first_step = scenes, pnp_count, pnp_first_step
        self.noise_law, self.channel_correlation = noise_law, channel_correlation

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int):
        clean, noisy, sigma = gen.training_batch(self.seed, index, self.batch_size, self.patch, self.channels, self.p_varying,
                                                  self.scenes, self.noise_law, self.channel_correlation)
        batch = (torch.from_numpy(clean), torch.from_numpy(noisy), torch.from_numpy(sigma))
        if not self.pnp_count:
            return batch
        draws = pnp_inputs.draw(pnp_inputs.pnp_rng(self.seed, index), self.pnp_count, self.channels, self.patch,
                                self.pnp_first_step)
        return batch + ({k: torch.from_numpy(v) for k, v in draws.items()},)


def learning_rate(progress: float, peak: float, warmup: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to peak / 100, over progress in [0, 1]."""
    if progress < warmup:
        return peak * max(progress / warmup, 0.01)
    t = min(1.0, (progress - warmup) / max(1e-9, 1.0 - warmup))
    floor = peak / 100.0
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


@torch.no_grad()
def denoise(model: Denoiser, noisy: np.ndarray, sigma: float, device: torch.device, batch: int = 8) -> np.ndarray:
    model.eval()
    out = np.empty_like(noisy)
    for i in range(0, len(noisy), batch):
        x = torch.from_numpy(noisy[i : i + batch]).to(device)
        s = torch.full((x.shape[0], 1) + x.shape[2:], sigma, dtype=x.dtype, device=device)
        out[i : i + batch] = model(torch.cat([x, s], dim=1)).float().cpu().numpy()
    model.train()
    return out


def validate(model: Denoiser, validation, device: torch.device) -> dict:
    """{sigma in /255: PSNR} on the fixed validation set."""
    clean, noisy = validation
    return {round(s * 255): gen.psnr(denoise(model, noisy[s], s, device), clean) for s in gen.VALIDATION_SIGMAS}


def noisy_psnr(validation) -> dict:
    clean, noisy = validation
    return {round(s * 255): gen.psnr(noisy[s], clean) for s in gen.VALIDATION_SIGMAS}


def save_checkpoint(path: Path, model, optimizer, step: int, elapsed: float, args, training_info: dict) -> None:
    state = {
        "model": model.state_dict(),
        "model_config": model.config(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "elapsed_s": elapsed,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "training_info": training_info,
        "torch_rng": torch.get_rng_state(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, str(tmp))
    os.replace(tmp, path)  # never a half-written checkpoint


def load_checkpoint(path: Path, model, device: torch.device, label: str = "") -> dict:
    """A checkpoint's state, its weights loaded into `model` (whose configuration must match)."""
    state = torch.load(str(path), map_location=device, weights_only=False)
    if state["model_config"] != model.config():
        hint = ""
        if {k: v for k, v in state["model_config"].items() if k != "extra"} == {
                k: v for k, v in model.config().items() if k != "extra"}:
            hint = " (a checkpoint is grown with training/grow.py, then fine-tuned with its --extra)"
        raise SystemExit(f"{label}{path}: model {state['model_config']} differs from the arguments' {model.config()}{hint}")
    model.load_state_dict(state["model"])
    return state


def main(argv=None) -> dict:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    cores = available_cores()
    workers = args.workers if args.workers is not None else (0 if args.device == "cpu" else max(1, cores - 2))
    threads = args.threads or max(1, cores - workers)
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    model = Denoiser(args.channels, args.width, args.levels, args.blocks, args.extra).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, elapsed_before = 0, 0.0
    checkpoint = out / "checkpoint.pt"
    init_info = None
    resuming = args.resume and checkpoint.exists()
    if args.init is not None and not resuming:
        state = load_checkpoint(args.init, model, device, "--init ")
        init_info = {"checkpoint": str(args.init), "step": state["step"], "training_info": state.get("training_info", {})}
        print(f"initialised from {args.init} (step {state['step']} of its run)", flush=True)
    if resuming:
        state = load_checkpoint(checkpoint, model, device)
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed_before = state["step"], state["elapsed_s"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed from {checkpoint} at step {step}", flush=True)

    params = parameter_count(model)
    print(
        f"model: {params:,} parameters {model.config()}, multiple {model.multiple}; device {device}, "
        f"{threads} torch thread(s), {workers} data worker(s), OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}",
        flush=True,
    )
    validation = gen.validation_set(args.channels)
    baseline = noisy_psnr(validation)
    print("validation PSNR of the noisy input: " + ", ".join(f"sigma {s}: {v:.2f} dB" for s, v in baseline.items()), flush=True)

    # The first pnp_count images of every batch get plug-and-play inputs instead of white noise;
    # the next unrolled_count are trained through the whole PnP schedule.
    pnp_count = round(args.pnp_fraction * args.batch_size)
    unrolled_count = round(args.unrolled * args.batch_size)
    loader = torch.utils.data.DataLoader(
        TrainingBatches(args.seed, args.batch_size, args.patch, args.channels, args.varying_noise, args.scenes,
                        pnp_count + unrolled_count, args.pnp_first_step, args.noise_law, args.channel_correlation),
        batch_size=None,
        sampler=range(step, 2**62),
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
        persistent_workers=workers > 0,
    )
    budget_s = args.minutes * 60.0 if args.minutes is not None else None
    loss_fn = torch.nn.functional.l1_loss if args.loss == "l1" else torch.nn.functional.mse_loss

    log_path = out / "log.csv"
    new_log = not (args.resume and log_path.exists())
    log_file = open(log_path, "w" if new_log else "a", newline="")
    log = csv.DictWriter(log_file, fieldnames=LOG_FIELDS)
    if new_log:
        log.writeheader()

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - start

    def progress() -> float:
        return elapsed() / budget_s if budget_s is not None else step / max(1, args.steps)

    def finished() -> bool:
        return elapsed() >= budget_s if budget_s is not None else step >= args.steps

    def stopping() -> bool:  # --stop-at: the end of this piece of the run
        return args.stop_at is not None and step >= args.stop_at and not finished()

    def log_validation() -> dict:
        t = time.perf_counter()
        psnrs = validate(model, validation, device)
        row = {"step": step, "elapsed_s": f"{elapsed():.1f}"}
        row.update({f"val_psnr_{s}": f"{v:.3f}" for s, v in psnrs.items()})
        log.writerow(row)
        log_file.flush()
        print(
            f"step {step:6d}  validation PSNR "
            + ", ".join(f"sigma {s}: {v:.2f} dB" for s, v in psnrs.items())
            + f"  ({time.perf_counter() - t:.1f} s)",
            flush=True,
        )
        return psnrs

    start = time.perf_counter()
    psnrs = log_validation() if step == 0 else {}
    losses, window_start, data_wait = [], time.perf_counter(), 0.0
    images = 0
    train_start_step = step
    model.train()
    batches = iter(loader)
    if stopping():
        log_file.close()
        sys.exit(f"--stop-at {args.stop_at}: {checkpoint} is already at step {step}")
    while not finished() and not stopping():
        t_wait = time.perf_counter()
        clean, noisy, sigma, *draws = next(batches)
        clean = clean.to(device, non_blocking=True)
        noisy = noisy.to(device, non_blocking=True)
        sigma = sigma.to(device, non_blocking=True)
        data_wait += time.perf_counter() - t_wait
        if draws:
            draws = {k: v.to(device) for k, v in draws[0].items()}
            unrolled_draws = {k: v[pnp_count:] for k, v in draws.items()}
            draws = {k: v[:pnp_count] for k, v in draws.items()}
            if pnp_count and args.pnp_previous == "clean":
                noisy[:pnp_count], sigma[:pnp_count] = pnp_inputs.clean_previous_inputs(clean[:pnp_count], draws)
            elif pnp_count:
                noisy[:pnp_count], sigma[:pnp_count] = pnp_inputs.inputs(model, clean[:pnp_count], draws)
        lr = learning_rate(progress(), args.lr, args.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp and device.type == "cuda"):
            if unrolled_count:  # images pnp_count.. of the batch: PnP's final estimate
                u0, u1 = pnp_count, pnp_count + unrolled_count
                inputs = torch.cat([noisy, sigma], dim=1)
                rest = model(torch.cat([inputs[:u0], inputs[u1:]]))
                final = pnp_inputs.unrolled(model, clean[u0:u1], unrolled_draws)
                estimate = torch.cat([rest[:u0], final.to(rest.dtype), rest[u0:]])
            else:
                estimate = model(torch.cat([noisy, sigma], dim=1))
        loss = loss_fn(estimate.float(), clean)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        images += len(clean)
        losses.append(loss.item())
        if step % args.log_every == 0 or finished() or stopping():
            now = time.perf_counter()
            n = len(losses)
            row = {
                "step": step,
                "elapsed_s": f"{elapsed():.1f}",
                "lr": f"{lr:.3e}",
                "loss": f"{np.mean(losses):.5f}",
                "s_per_step": f"{(now - window_start) / n:.4f}",
                "images_per_s": f"{n * args.batch_size / (now - window_start):.1f}",
                "data_wait_s_per_step": f"{data_wait / n:.4f}",
            }
            log.writerow(row)
            log_file.flush()
            print(
                f"step {step:6d}  loss {row['loss']}  lr {row['lr']}  {row['s_per_step']} s/step  "
                f"{row['images_per_s']} images/s  (data {row['data_wait_s_per_step']} s/step)  {row['elapsed_s']} s",
                flush=True,
            )
            losses, window_start, data_wait = [], time.perf_counter(), 0.0
        if step % args.val_every == 0 and not finished():
            psnrs = log_validation()
            window_start = time.perf_counter()  # validation time is not training speed
        if step % args.checkpoint_every == 0:
            save_checkpoint(checkpoint, model, optimizer, step, elapsed(), args, {})
    train_time = time.perf_counter() - start
    if stopping():
        log_file.close()
        save_checkpoint(checkpoint, model, optimizer, step, elapsed(), args, {})
        print(f"stopped at step {step} of {args.steps} (--stop-at) after {train_time:.1f} s; {checkpoint} saved: the "
              "same command with --resume goes on", flush=True)
        return {"stopped_at": step, "steps_this_run": step - train_start_step, "train_wall_s_this_run": round(train_time, 1)}
    if step > train_start_step or not psnrs:
        psnrs = log_validation()
    log_file.close()

    training_info = {
        "seed": args.seed,
        "steps": step,
        "batch_size": args.batch_size,
        "patch": args.patch,
        "loss": args.loss,
        "lr": args.lr,
        "training_s": round(elapsed(), 1),
        "device": args.device,
        "validation_psnr": {str(s): round(v, 3) for s, v in psnrs.items()},
        "validation_noisy_psnr": {str(s): round(v, 3) for s, v in baseline.items()},
        "data": "training/data.py dead leaves (generated images only)",
        "scenes": args.scenes,
        "pnp_fraction": args.pnp_fraction,
        "pnp_first_step": args.pnp_first_step,
    }
    if args.unrolled:  # recorded only when used, as noise_law
        training_info["unrolled"] = args.unrolled
    if args.pnp_previous != "model":  # recorded only when not the default, as noise_law
        training_info["pnp_previous"] = args.pnp_previous
    if args.channel_correlation:  # recorded only when used, as noise_law
        training_info["channel_correlation"] = args.channel_correlation
    if args.noise_law != "uniform":  # recorded only when not the default, so earlier runs' files are unchanged
        training_info["noise_law"] = args.noise_law
    if args.init is not None:  # resumed fine-tunes know only the path
        training_info["init"] = init_info or {"checkpoint": str(args.init)}
    save_checkpoint(checkpoint, model, optimizer, step, elapsed(), args, training_info)
    steps_run = step - train_start_step
    summary = {
        "parameters": params,
        "model": model.config(),
        "multiple": model.multiple,
        "threads": threads,
        "workers": workers,
        "steps_this_run": steps_run,
        "train_wall_s_this_run": round(train_time, 1),
        "training": training_info,
    }
    print(
        f"trained {steps_run} steps in {train_time:.1f} s; validation PSNR (noisy -> denoised): "
        + ", ".join(f"sigma {s}: {baseline[s]:.2f} -> {psnrs[s]:.2f} dB" for s in psnrs),
        flush=True,
    )
    model = model.cpu().float().eval()
    if not args.no_export:
        summary["onnx"] = export.export_all(model, out, training_info, threads)
    if args.quantize:
        from training import quantize

        summary["int8"] = quantize.quantize_all(out, args.channels, threads)
    with open(out / "summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    return summary


if __name__ == "__main__":
    main()
