"""Compression trade-offs: size on disk, latency and accuracy of the zoo's torch models, before and
after ``lepton.compress`` (quantize, onnx, prune).

Three models, each trained once on generated data, then compressed three ways with
``lepton.compress(model, method=..., verbose=0)``:

* **mlp** on a table: ``--rows`` rows of 16 numeric features and a learnable 4-class label
  (75 % train, 25 % valid), ``--mlp-epochs`` epochs, hidden sizes (128, 64).
* **cnn** and **resnet18** on images: ``--images`` generated 32x32 PNG files in 10 class folders
  (a square of the class's hue on noise; 75 % train, 25 % valid), ``--image-epochs`` epochs.

The four variants of each model: ``original`` (torch, safetensors), ``quantize`` (ONNX graph with
int8 weights, run by onnxruntime), ``onnx`` (float ONNX graph, onnxruntime) and ``prune`` (torch,
50 % of the Linear/Conv2d weights zeroed by global L1 magnitude, one fine-tune epoch on the
training set, bundle deflated). For every variant, on the validation set:

* **size**: bytes of the bundle ``lepton.save_model`` writes (weights, preprocessing, manifest);
* **latency per row**: p50 of ``model.predict`` on one row (one table row as a DataFrame, or one
  decoded 32x32 image as a uint8 array), preprocessing included;
* **latency per batch**: p50 of ``model.predict`` on a batch of up to 256 rows;
* **accuracy** of ``model.predict(valid)``, and the largest probability difference from the
  original on the parity rows (``max_abs_diff``, as ``lepton.compress`` reports it).

Timings alternate between the variants for ``--repeat`` rounds (each round: ``--row-calls``
one-row calls and ``--batch-calls`` batch calls per variant, after a warm-up call); the table
shows the median of the rounds' p50s. Everything runs on the CPU in this one process: torch with
its default thread count, onnxruntime's CPU provider with its default (one thread per core).

Usage: ``.venv/bin/python bench/compression.py [--rows 5000] [--images 600] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import colorsys
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "compression.json"
SEED = 0
VARIANTS = ("original", "quantize", "onnx", "prune")


# data --------------------------------------------------------------------------------------
def make_table(rows: int) -> Any:
    """16 numeric features and a learnable 4-class label (as bench/training.py)."""
    import numpy as np
    import pandas as pd

    import lepton

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(rows, 16))
    score = x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + rng.normal(scale=0.5, size=rows)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(16)])
    classes = np.digitize(score, np.quantile(score, [0.25, 0.5, 0.75]))
    frame["label"] = [f"c{c}" for c in classes]
    return lepton.Dataset.from_pandas(frame, target="label", name="bench-table")


def make_images(folder: Path, count: int) -> Any:
    """``count`` 32x32 PNG files in 10 class folders: a square of the class's hue on noise."""
    import numpy as np
    from PIL import Image

    import lepton

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
    return lepton.Dataset.from_images(folder, input_shape=(32, 32, 3), name="bench-images")


def timing_inputs(kind: str, valid: Any) -> Any:
    """One row and a batch of up to 256 rows of ``valid``, decoded once (images as uint8)."""
    import numpy as np
    from PIL import Image

    from lepton.compression._measure import BATCH_ROWS, Inputs

    n = min(BATCH_ROWS, len(valid))
    if kind == "table":
        frame = valid.X().iloc[:n].reset_index(drop=True)
        return Inputs(frame.iloc[:1], frame, n, "valid")
    images = np.stack(
        [np.asarray(Image.open(p).convert("RGB")) for p in valid.image_paths[:n]]
    ).astype(np.uint8)
    return Inputs(images[:1], images, n, "valid")


# one model ---------------------------------------------------------------------------------
def variants(name: str, train: Any, valid: Any, epochs: int) -> dict[str, Any]:
    """The trained model and its three compressed versions (with what compress reported)."""
    import lepton

    model = lepton.create_model(name, seed=SEED, epochs=epochs, amp="off")
    lepton.train(model, train, epochs=epochs, verbose=0)
    out: dict[str, Any] = {"original": (model, {"max_abs_diff": 0.0})}
    for method in VARIANTS[1:]:
        data = train if method == "prune" else valid  # prune fine-tunes on the training set
        result = lepton.compress(model, method=method, data=data, verbose=0)
        out[method] = (result.model, result.model.compression)
    return out


def measure_all(models: dict[str, Any], inputs: Any, valid: Any, args: Any) -> dict[str, Any]:
    from lepton.compression._measure import bundle_size, metric_of, p50_ms
    from lepton.compression._prune import sparsity_of

    rounds: dict[str, dict[str, list[float]]] = {v: {"row": [], "batch": []} for v in models}
    for _ in range(args.repeat):
        for variant, (model, _) in models.items():
            rounds[variant]["row"].append(
                p50_ms(lambda m=model: m.predict(inputs.row), args.row_calls, 60.0)
            )
            rounds[variant]["batch"].append(
                p50_ms(lambda m=model: m.predict(inputs.batch), args.batch_calls, 60.0)
            )
    rows = {}
    for variant, (model, info) in models.items():
        row_ms = statistics.median(rounds[variant]["row"])
        batch_ms = statistics.median(rounds[variant]["batch"])
        rows[variant] = {
            "size_bytes": bundle_size(model),
            "latency_row_ms": row_ms,
            "latency_row_ms_rounds": rounds[variant]["row"],
            "latency_batch_ms": batch_ms,
            "latency_batch_ms_rounds": rounds[variant]["batch"],
            "batch_rows": inputs.rows,
            "rows_per_s": inputs.rows / (batch_ms / 1000),
            "accuracy": metric_of(model, valid)[1],
            "max_abs_diff": info.get("max_abs_diff"),
            "sparsity": sparsity_of(model.net) if model.runtime is None else None,
            "runtime": "onnxruntime" if model.runtime is not None else "torch",
            "quantized_ops": (info.get("quantization") or {}).get("ops"),
        }
    return rows


def machine() -> dict[str, Any]:
    import onnxruntime
    import torch

    from lepton.models._torch_loop import resolve_device

    return {
        "train_device": resolve_device("auto").type,  # training only: predictions run on the CPU
        "cpus": os.cpu_count(),
        "arch": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": onnxruntime.__version__,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def run_benchmark(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    load_before = round(os.getloadavg()[0], 2)
    table_train, table_valid = make_table(args.rows).split(test_size=0.25, seed=SEED)
    image_train, image_valid = make_images(folder, args.images).split(test_size=0.25, seed=SEED)
    workloads = {
        "mlp": (table_train, table_valid, args.mlp_epochs, "table"),
        "cnn": (image_train, image_valid, args.image_epochs, "images"),
        "resnet18": (image_train, image_valid, args.image_epochs, "images"),
    }
    models = {}
    for name in args.models:
        train, valid, epochs, kind = workloads[name]
        print(f"{name}: training {epochs} epoch(s) and compressing", flush=True)
        models[name] = {
            "data": {"train_rows": len(train), "valid_rows": len(valid), "epochs": epochs},
            "variants": measure_all(
                variants(name, train, valid, epochs), timing_inputs(kind, valid), valid, args
            ),
        }
    return {
        "benchmark": "compression",
        "date": dt.date.today().isoformat(),
        "machine": {**machine(), "load_average_1m_at_start": load_before},
        "repeat": args.repeat,
        "row_calls": args.row_calls,
        "batch_calls": args.batch_calls,
        "models": models,
    }


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from lepton.compression._result import human_size

    m = result["machine"]
    caption = (
        f"{m['cpus']} CPUs {m['arch']} (trained on {m['train_device']}), torch {m['torch']} "
        f"({m['torch_threads']} threads), "
        f"onnxruntime {m['onnxruntime']}, load average {m['load_average_1m_at_start']} -> "
        f"{m['load_average_1m']}; latency: median of {result['repeat']} rounds of p50"
    )
    table = Table(title="Compression: before and after (CPU)", caption=caption)
    for column in (
        "model",
        "variant",
        "size",
        "size vs orig.",
        "row p50 ms",
        "batch p50 ms",
        "rows/s",
        "accuracy",
        "max abs diff",
        "sparsity",
    ):
        table.add_column(column, justify="left" if column in ("model", "variant") else "right")
    for name, workload in result["models"].items():
        rows = workload["variants"]
        base = rows["original"]["size_bytes"]
        for index, (variant, row) in enumerate(rows.items()):
            table.add_row(
                f"{name} ({workload['variants']['original']['batch_rows']}-row batch)"
                if index == 0
                else "",
                variant,
                human_size(row["size_bytes"]),
                f"{row['size_bytes'] / base:.2f}x",
                f"{row['latency_row_ms']:.3f}",
                f"{row['latency_batch_ms']:.1f}",
                f"{row['rows_per_s']:,.0f}",
                f"{row['accuracy']:.3f}",
                "-" if variant == "original" else f"{row['max_abs_diff']:.1e}",
                f"{row['sparsity']:.2f}" if row["sparsity"] is not None else "-",
            )
    Console(width=max(Console().width, 140)).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000, help="rows of the MLP's table")
    parser.add_argument("--mlp-epochs", type=int, default=5, help="epochs of the MLP")
    parser.add_argument("--images", type=int, default=600, help="32x32 PNG files")
    parser.add_argument("--image-epochs", type=int, default=3, help="epochs of CNN and ResNet")
    parser.add_argument("--repeat", type=int, default=3, help="timing rounds per variant")
    parser.add_argument("--row-calls", type=int, default=100, help="one-row calls per round")
    parser.add_argument("--batch-calls", type=int, default=10, help="batch calls per round")
    parser.add_argument(
        "--models",
        nargs="+",
        default=["mlp", "cnn", "resnet18"],
        choices=["mlp", "cnn", "resnet18"],
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if min(args.rows, args.images) < 100 or min(args.repeat, args.row_calls, args.batch_calls) < 1:
        parser.error("--rows and --images must be >= 100; --repeat and calls >= 1.")

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

    print_table(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
