"""An example run for this project: logs parameters and a metric curve. Edit it freely."""

import math

import lepton

with lepton.start_run(name="example") as run:
    run.log_params({"learning_rate": 0.1, "epochs": 20})
    for epoch in range(20):
        run.log_metric("loss", math.exp(-0.2 * epoch), step=epoch)
    print(
        f"Logged run {run.id[:8]} in project {run.project!r}. See it with: lepton runs show {run.id[:8]}"
    )
