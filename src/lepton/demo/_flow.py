"""The demo flow. Each step calls the public SDK, exactly as a user's notebook would."""

from __future__ import annotations

import math
import random
from pathlib import Path

from rich.console import Console

from lepton.config import PROJECT_FILE

console = Console()


def _step(number: int, total: int, title: str) -> None:
    console.print(f"\n[bold cyan]Step {number}/{total}[/] {title}")


def run_demo(folder: str | Path = "lepton-demo", once: bool = True) -> dict[str, object]:
    """Run the demo in ``folder`` (created, or reused when it already holds the demo project)."""
    import lepton
    from lepton.workspace import activate_project, get_workspace

    root = Path(folder).resolve()
    total = 3
    _step(1, total, "Project")
    if (root / PROJECT_FILE).exists():
        activate_project(root)
        project_name = get_workspace().ensure_project(root.name).name
        console.print(f"Using the existing demo project in {root}")
    else:
        project_name = lepton.create_project(root.name, root, "The Lepton demo.").name
        console.print(f"Created project [bold]{project_name}[/] in {root}")

    _step(2, total, "A tracked run: params, a metric curve, an artifact")
    rng = random.Random(0)
    with lepton.start_run(name="demo-curve", project=project_name) as run:
        run.log_params({"learning_rate": 0.05, "epochs": 30, "seed": 0})
        for epoch in range(30):
            loss = math.exp(-0.12 * epoch) + rng.uniform(0, 0.02)
            run.log_metrics({"loss": loss, "accuracy": 1 - loss / 2}, step=epoch)
        run.log_text("A run logged by `lepton demo`.\n", "notes/README.md")
    console.print(f"Logged run [bold]{run.id[:8]}[/] with {len(run.history('loss'))} loss points")

    _step(3, total, "What the workspace holds")
    runs = get_workspace().list_runs(project_name, limit=5)
    for info in runs:
        console.print(
            f"  {info.id[:8]}  {info.name:<14} {info.status:<9} "
            + " ".join(f"{k}={v:.3f}" for k, v in sorted(info.metrics.items())),
            highlight=False,
        )
    console.print(f"\nSee them with: [bold]cd {root} && lepton runs list[/]")
    return {"project": project_name, "run_id": run.id, "folder": str(root)}
