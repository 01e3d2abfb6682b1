"""A closed-loop recommender simulator fitted on a real log (issue 18).

    from lmrec.simulation import simulate
    result = simulate("examples/simulate_ml100k.yaml", out="runs/sim")  # results.json, per_round.parquet,
    result.per_round                                                     # plots.html, plots.png in runs/sim

Layout, one concept per module:

- `user_model`: simulated users, true preferences fitted on the real log, satiation and boredom;
- `choice`: the multinomial logit over a slate with a no-choice option, and its no-choice utility;
- `calibration`: β and the item-appeal weight w fitted on held-out real choices;
- `churn`: users leaving after dissatisfying rounds and returning;
- `item_space`: what the policy side may know about items (logged-data vectors, categories, popularity);
- `rerank`: MMR, calibrated (Steck 2018), popularity debiasing, epsilon-greedy, Thompson-style exploration;
- `loop`: one policy x seed through the closed loop (refits, fold-in, no look-ahead);
- `metrics`: per-round measures as pure functions;
- `validation`: how well the simulator mimics a held-out time window;
- `config`, `runner`, `report`: the YAML schema, running policies x seeds (resumable), results and plots.

What it can tell: how policies compare *under its assumed user model*. It cannot tell real long-term
effects; the validation numbers say how well that model mimics held-out behaviour.
"""

from lmrec.simulation.config import Simulation, load_simulation
from lmrec.simulation.runner import SimulationResult, simulate

__all__ = ["Simulation", "SimulationResult", "load_simulation", "simulate"]
