"""Training loop overhead: ``lepton.train`` against a hand-written PyTorch loop, same net and data.

DESIGN.md §6 asks Lepton's training to be at most 5 % slower than a hand-written PyTorch loop
training the same model on the same data with the same seed, measured in one run on one
machine. Two workloads, each trained both ways:

* **MLP on a table**: ``--rows`` rows of numeric features and a 4-class label. Lepton:
  ``lepton.train(create_model("mlp"), dataset, epochs=..., verbose=0)`` on a fresh
  ``Dataset.from_pandas`` each trial. Hand-written: ``StandardScaler`` on the features, a
  ``DataLoader`` over a ``TensorDataset``, the same ``MLP`` from ``lepton.models._torch_nets``
  (hidden sizes 128, 64, dropout 0.1), Adam at 1e-3, batch 32, the same epochs, and the loss and
  accuracy of each epoch summed up as a training script prints them.
* **Small CNN on images**: ``--images`` generated 32x32 PNG files in 10 class folders. Lepton:
  ``lepton.train(create_model("cnn"), Dataset.from_images(...))``. Hand-written: torchvision's
  ``ImageFolder`` with ``ToTensor`` and the same normalisation, a ``DataLoader`` with the same
  number of worker processes, the same ``SmallCNN``, Adam at 2e-3 (the zoo's default), batch 32.

Lepton's time is the whole ``lepton.train`` call: tracking run, dataset hashing, preprocessing,
a checkpoint every epoch, TensorBoard files and the saved bundle. The hand-written loop's time
runs from the raw table (or the image folder's file list) to the trained net. Both use the same
device (``cuda``, ``mps`` or ``cpu``) in full precision. Trials alternate, after one untimed
warm-up of each, and the median is reported as samples (rows or images) per second. For the MLP
a third, untimed-against-target row shows a bare loop that slices shuffled tensors instead of
going through a DataLoader: the floor of any Python training loop.

Last, the image data loader alone (``Dataset.image_loader``) is timed over the image folder with
0 and 2 worker processes, in images per second, after a warm-up pass.

Usage: ``.venv/bin/python bench/training.py [--rows 50000] [--images 2000] [--repeat 5]
[--threads N]``
"""

from __future__ import annotations

import argparse
import colorsys
import datetime as dt
import gc
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "training.json"
TARGET_OVERHEAD = 0.05  # lepton at most 5 % slower: samples/s ratio >= 1 / 1.05
SEED = 0
BATCH = 32


# data --------------------------------------------------------------------------------------
def make_table(rows: int) -> Any:
    """Numeric features and a learnable 4-class label."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(rows, 16)).astype(np.float64)
    score = x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + rng.normal(scale=0.5, size=rows)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(16)])
    frame["label"] = np.digitize(score, np.quantile(score, [0.25, 0.5, 0.75]))
    frame["label"] = "c" + frame["label"].astype(str)
    return frame


def make_images(folder: Path, count: int) -> None:
    """``count`` 32x32 PNG files in 10 class folders: a square of the class's hue on noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(SEED)
    for index in range(count):
        label = index % 10
        color = np.array(colorsys.hsv_to_rgb(label / 10, 0.9, 0.95)) * 255
        pixels = rng.integers(0, 50, size=(32, 32, 3)).astype(np.float64)
        size = int(rng.integers(12, 24))
        top, left = rng.integers(0, 32 - size, size=2)
        pixels[top : top + size, left : left + size] = color
        (folder / f"class{label}").mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        image.save(folder / f"class{label}" / f"{index}.png")


# the two ways to train -----------------------------------------------------------------------
def device_name() -> str:
    from lepton.models._torch_loop import resolve_device

    return resolve_device("auto").type


def lepton_mlp(frame: Any, epochs: int) -> Callable[[], None]:
    import lepton

    def run() -> None:
        data = lepton.Dataset.from_pandas(frame, target="label", name="bench-table")
        model = lepton.create_model("mlp", seed=SEED, amp="off", train_batch_size=BATCH)
        lepton.train(model, data, epochs=epochs, verbose=0)

    return run


def lepton_cnn(folder: Path, epochs: int, workers: int) -> Callable[[], None]:
    import lepton

    def run() -> None:
        data = lepton.Dataset.from_images(folder, input_shape=(32, 32, 3), name="bench-images")
        model = lepton.create_model(
            "cnn", seed=SEED, amp="off", train_batch_size=BATCH, num_workers=workers
        )
        lepton.train(model, data, epochs=epochs, verbose=0)

    return run


def _fit(net: Any, batches: Callable[[], Any], epochs: int, lr: float, device: Any) -> None:
    """The hand-written loop: what a PyTorch training script does, epoch by epoch."""
    import torch
    from torch import nn

    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for _epoch in range(epochs):
        net.train()
        total, correct, seen = 0.0, 0, 0
        for x, y in batches():
            x, y = x.to(device), y.to(device)
            out = net(x)
            loss = loss_fn(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            correct += int((out.argmax(dim=1) == y).sum())
            seen += len(y)
        _ = (total / seen, correct / seen)  # what the script would print


def hand_mlp(frame: Any, epochs: int, *, bare: bool = False) -> Callable[[], None]:
    import numpy as np
    import torch
    from sklearn.preprocessing import StandardScaler
    from torch.utils.data import DataLoader, TensorDataset

    from lepton.models._torch_nets import MLP

    def run() -> None:
        torch.manual_seed(SEED)
        device = torch.device(device_name())
        features = frame.drop(columns=["label"]).to_numpy(dtype=np.float64)
        x = torch.from_numpy(StandardScaler().fit_transform(features).astype(np.float32))
        classes, codes = np.unique(frame["label"].to_numpy(), return_inverse=True)
        y = torch.from_numpy(codes.astype(np.int64))
        net = MLP(x.shape[1], (128, 64), len(classes), 0.1).to(device)
        generator = torch.Generator().manual_seed(SEED)
        if bare:

            def batches() -> Any:
                order = torch.randperm(len(x), generator=generator)
                for start in range(0, len(x), BATCH):
                    index = order[start : start + BATCH]
                    yield x[index], y[index]

        else:
            loader = DataLoader(
                TensorDataset(x, y), batch_size=BATCH, shuffle=True, generator=generator
            )

            def batches() -> Any:
                return loader

        _fit(net, batches, epochs, 1e-3, device)

    return run


def hand_cnn(folder: Path, epochs: int, workers: int) -> Callable[[], None]:
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from lepton.data._loader import IMAGENET_MEAN, IMAGENET_STD
    from lepton.models._torch_nets import SmallCNN

    prepare = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )
    images = datasets.ImageFolder(str(folder), transform=prepare)  # the folder's file list

    def run() -> None:
        torch.manual_seed(SEED)
        device = torch.device(device_name())
        loader = DataLoader(
            images,
            batch_size=BATCH,
            shuffle=True,
            num_workers=workers,
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(SEED),
        )
        net = SmallCNN(3, (32, 64), len(images.classes), 0.1).to(device)
        _fit(net, lambda: loader, epochs, 2e-3, device)

    return run


# timing ------------------------------------------------------------------------------------
def cpu_seconds() -> float:
    """CPU time of this process and of its ended children (the image loader's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def alternate(
    runs: dict[str, Callable[[], None]], repeat: int
) -> dict[str, dict[str, list[float]]]:
    """Wall and CPU seconds of each run, ``repeat`` times, in turn, after one untimed warm-up
    of each. CPU time barely moves when other work on the machine takes turns on the cores,
    so it is the steadier of the two on a busy machine."""
    for run in runs.values():
        run()
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            gc.collect()  # the previous trial's loader workers end here, not in this trial
            cpu, started = cpu_seconds(), time.perf_counter()
            run()
            times[name]["wall"].append(time.perf_counter() - started)
            gc.collect()
            times[name]["cpu"].append(cpu_seconds() - cpu)
    return times


def loader_throughput(folder: Path, workers: int, passes: int) -> dict[str, Any]:
    import lepton

    data = lepton.Dataset.from_images(folder, input_shape=(32, 32, 3), name="bench-images")
    loader = data.image_loader(batch_size=64, shuffle=True, num_workers=workers)
    for _ in loader:  # warm-up: starts the worker processes
        pass
    seconds = []
    for _ in range(passes):
        started = time.perf_counter()
        seen = sum(len(labels) for _, labels in loader)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {
        "workers": workers,
        "seconds": seconds,
        "median_s": median,
        "images_per_s": seen / median,
    }


def summarise(times: dict[str, list[float]], samples: int) -> dict[str, Any]:
    median = statistics.median(times["wall"])
    return {
        "seconds": times["wall"],
        "median_s": median,
        "samples_per_s": samples / median,
        "cpu_seconds": times["cpu"],
        "median_cpu_s": statistics.median(times["cpu"]),
    }


def compare(name: str, lepton: dict[str, Any], hand: dict[str, Any]) -> dict[str, Any]:
    ratio = lepton["samples_per_s"] / hand["samples_per_s"]
    overhead = 1 / ratio - 1  # how much longer lepton takes than the hand-written loop
    return {
        "workload": name,
        "lepton": lepton,
        "hand_written": hand,
        "ratio": ratio,
        "overhead": overhead,
        "cpu_overhead": lepton["median_cpu_s"] / hand["median_cpu_s"] - 1,
        "pass": overhead <= TARGET_OVERHEAD,
    }


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpus": os.cpu_count(),
        "arch": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": device_name(),
        # other work on the machine slows torch's threads a lot: the load says how quiet it was
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def run_benchmark(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    load_before = round(os.getloadavg()[0], 2)
    frame = make_table(args.rows)
    make_images(folder, args.images)
    workers = min(2, os.cpu_count() or 1)

    mlp = alternate(
        {
            "lepton": lepton_mlp(frame, args.epochs),
            "hand": hand_mlp(frame, args.epochs),
            "bare": hand_mlp(frame, args.epochs, bare=True),
        },
        args.repeat,
    )
    rows = args.rows * args.epochs
    mlp_result = compare("mlp", summarise(mlp["lepton"], rows), summarise(mlp["hand"], rows))
    mlp_result["bare_loop"] = summarise(mlp["bare"], rows)

    cnn = alternate(
        {
            "lepton": lepton_cnn(folder, args.image_epochs, workers),
            "hand": hand_cnn(folder, args.image_epochs, workers),
        },
        args.repeat,
    )
    images = args.images * args.image_epochs
    cnn_result = compare("cnn", summarise(cnn["lepton"], images), summarise(cnn["hand"], images))
    cnn_result["workers"] = workers

    return {
        "benchmark": "training",
        "date": dt.date.today().isoformat(),
        "machine": {**machine(), "load_average_1m_at_start": load_before},
        "repeat": args.repeat,
        "batch_size": BATCH,
        "mlp": {
            "rows": args.rows,
            "features": 16,
            "classes": 4,
            "epochs": args.epochs,
            **mlp_result,
        },
        "cnn": {
            "images": args.images,
            "size": [32, 32, 3],
            "classes": 10,
            "epochs": args.image_epochs,
            **cnn_result,
        },
        "loader": [loader_throughput(folder, w, args.loader_passes) for w in (0, 2)],
        "target_overhead": TARGET_OVERHEAD,
    }


def print_tables(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def verdict(ok: bool) -> str:
        return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"

    m = result["machine"]
    caption = (
        f"{m['cpus']} CPUs {m['arch']}, {m['device']}, torch {m['torch']} ({m['torch_threads']} "
        f"threads), load average {m['load_average_1m_at_start']} -> {m['load_average_1m']}"
    )
    table = Table(title=f"Training loop overhead, median of {result['repeat']}", caption=caption)
    columns = (
        "workload",
        "loop",
        "median s",
        "samples/s",
        "lepton/loop",
        "CPU s",
        "target",
        "result",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("workload", "loop") else "right")
    for key in ("mlp", "cnn"):
        w = result[key]
        size = f"{w['rows']:,} rows" if key == "mlp" else f"{w['images']:,} images"
        lepton = w["lepton"]
        table.add_row(
            f"{key}, {size} x {w['epochs']} epochs",
            "lepton.train",
            f"{lepton['median_s']:.2f}",
            f"{lepton['samples_per_s']:,.0f}",
            "",
            f"{lepton['median_cpu_s']:.2f}",
            "",
            "",
        )
        loop = "DataLoader(TensorDataset)" if key == "mlp" else "ImageFolder + DataLoader"
        hand = w["hand_written"]
        table.add_row(
            "",
            f"hand-written, {loop}",
            f"{hand['median_s']:.2f}",
            f"{hand['samples_per_s']:,.0f}",
            f"{w['ratio']:.3f}x ({w['overhead']:+.1%} time)",
            f"{hand['median_cpu_s']:.2f}",
            f"<= +{TARGET_OVERHEAD:.0%}",
            verdict(w["pass"]),
        )
        if "bare_loop" in w:
            bare = w["bare_loop"]
            ratio = lepton["samples_per_s"] / bare["samples_per_s"]
            table.add_row(
                "",
                "bare loop, tensor slices",
                f"{bare['median_s']:.2f}",
                f"{bare['samples_per_s']:,.0f}",
                f"{ratio:.3f}x ({1 / ratio - 1:+.1%} time)",
                f"{bare['median_cpu_s']:.2f}",
                "",
                "",
            )
    console = Console(width=max(Console().width, 130))
    console.print(table)
    loaders = Table(title="Image loader (Dataset.image_loader, batch 64), after a warm-up pass")
    for column in ("workers", "median s / pass", "images/s"):
        loaders.add_column(column, justify="right")
    for row in result["loader"]:
        loaders.add_row(
            str(row["workers"]), f"{row['median_s']:.3f}", f"{row['images_per_s']:,.0f}"
        )
    console.print(loaders)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the MLP's table")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of the MLP")
    parser.add_argument("--images", type=int, default=2_000, help="PNG files for the CNN")
    parser.add_argument("--image-epochs", type=int, default=4, help="epochs of the CNN")
    parser.add_argument("--repeat", type=int, default=5, help="timed trials of each")
    parser.add_argument("--loader-passes", type=int, default=5, help="timed loader passes")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's own choice)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if min(args.rows, args.images) < 100 or min(args.epochs, args.image_epochs, args.repeat) < 1:
        parser.error("--rows and --images must be >= 100; epochs and --repeat >= 1.")

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)  # both loops run in this process: both get it
    # a fresh home and working folder: nothing from ~/.lepton or a project folder leaks in
    for name in [n for n in os.environ if n.startswith("LEPTON_")]:
        del os.environ[name]
    output = args.output.resolve()
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="lepton-bench-") as cwd:
        os.chdir(cwd)
        try:
            os.environ["LEPTON_HOME"] = str(Path(cwd) / "home")
            result = run_benchmark(args, Path(cwd) / "images")
        finally:
            os.chdir(here)

    print_tables(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
