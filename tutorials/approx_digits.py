"""Tutorial: choosing approximate multipliers for an int8 digits classifier.

Run it (about a minute on two cores)::

    python tutorials/approx_digits.py [--out DIR]

It walks through the two ways adatune picks multipliers for the layers of a network:

1. **Error-model matching** (``select_multipliers``): estimate, from the layers' value
   histograms and each multiplier's 256x256 error map, how much noise a multiplier adds
   to a layer's output, and take the cheapest one within a noise budget. No accuracy is
   measured during the choice; ``deploy_multipliers`` then puts a choice into the network.
2. **Autotuning** (``ApproxTuner``): treat each layer as an operator whose knobs are the
   multipliers, measure accuracy (QoS) and relative energy (cost), and search for the
   configs that are cheapest at each accuracy, with a random-forest expected
   hypervolume improvement search. Then re-check the chosen configs on held-apart test data.

Energy here is a *proxy* (kept partial-product bits of each multiplier), not a silicon
measurement; see ``adatune.approx.multipliers``.
"""
import argparse
import logging
import os
import tempfile

from adatune.approx import ApproxTuner, deploy_multipliers, load_configs
from adatune.approx.digits import DigitsApp
from adatune.approx.predictive import PredictiveApproxTuner


def main() -> None:
    ap = argparse.ArgumentParser(description="approximate multipliers for the digits MLP")
    ap.add_argument("--out", default=None, help="directory for the JSON and the plot (default: a temp dir)")
    ap.add_argument("--max-iter", type=int, default=150)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = args.out or tempfile.mkdtemp(prefix="approx_digits_")
    os.makedirs(out, exist_ok=True)

    # --- the application: trains a small MLP on sklearn's bundled digits, quantises it
    app = DigitsApp()
    print(f"{app}: layers {app.ops}, multipliers {list(app.multipliers)}")
    print(f"float model accuracy: tune {app.net.float_accuracy('tune'):.2f} %, "
          f"test {app.net.float_accuracy('test'):.2f} %")
    base_qos, _ = app.measure_qos_cost({}, is_test=False)  # {}: every layer exact
    print(f"int8 model, exact multipliers: tune accuracy {base_qos:.2f} %")

    # --- 1. error-model matching, for a few noise budgets
    print("\nerror-model matching (select_multipliers):")
    for max_noise in (0.02, 0.05, 0.1, 0.2):
        info = app.select_multipliers(max_noise)
        cfg = {layer.name: layer.multiplier_name for layer in info.layers}
        acc, energy = app.measure_qos_cost(cfg, is_test=False)
        print(f"  max_noise {max_noise:4.2f}: {cfg}  energy {info.relative_energy_consumption:.3f}  "
              f"accuracy {acc:.2f} %")
    # deploy one choice into the network itself: its own int8 forward pass now uses it
    deploy_multipliers(app.net, app.select_multipliers(0.1), app.multipliers)
    print(f"  deployed (max_noise 0.10): {({n: m.name for n, m in app.net.layer_multipliers.items()})}, "
          f"test accuracy {app.net.accuracy('test'):.2f} %")

    # --- 2. autotuning: at most 2 points of accuracy lost, on tune and on test data
    tuner = ApproxTuner(app)
    best = tuner.tune(args.max_iter, qos_tuner_threshold=2.0, is_threshold_relative=True, seed=0)
    print(f"\nApproxTuner (rfei): {len(tuner.all_configs)} configs measured, {len(tuner.kept_configs)} kept, "
          f"{len(best)} on the front that also hold on the test split:")
    for c in sorted(best, key=lambda c: c.cost):
        print(f"  energy {c.cost:.3f} (x{c.speedup:.2f} cheaper)  tune {c.qos:.2f} %  test {c.test_qos:.2f} %  {c.knobs}")

    path = os.path.join(out, "digits_best.json")
    tuner.dump_configs(path)
    assert load_configs(path) == best
    fig = tuner.plot_configs(show_qos_loss=True, connect_best_points=True)
    fig.savefig(os.path.join(out, "digits_configs.png"), dpi=100)
    print(f"wrote {path} and digits_configs.png in {out}")

    # --- 3. predictive mode: search on a linear energy model and an additive accuracy
    # model (one profile per layer and multiplier), then re-measure what it would report
    pt = PredictiveApproxTuner(app, cache_dir=out, progress=False)
    pbest = pt.tune(500, qos_tuner_threshold=2.0, is_threshold_relative=True, seed=0)
    print(f"\npredictive: {pt.qos_model.n_profiled} profiling runs + {len(pt.all_configs)} re-measured configs; "
          f"cheapest kept energy {min(c.cost for c in pbest):.3f}")


if __name__ == "__main__":
    main()
