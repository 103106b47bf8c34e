"""Score candidate settings for the shipped default model on the results table's columns.

    .venv/bin/python benchmarks/default_search.py "conse,rank,3e-5,20,4" "conse,softmax,1e-3,10,10,anchor=0.1" ...

Each argument is ``INPUT,LOSS,LR,EPOCHS,TOP`` followed by optional
``key=value`` settings of TrainConfig/InputSpec (``temperature``, ``anchor``,
``distill``, ``centre``, ``optimizer``, ``seed``); ``0,0`` for LR and EPOCHS keeps the
initial map (for ``conse``, ConSE itself). It reads the features that benchmarks/results.py
cached (run that first) and prints one line per setting: Tiny seen, zero-shot,
generalized S/U/H, Imagenette vs 1k and 21k names, text-to-image P@10 and mAP,
CIFAR-10, all hit@1 except the Imagenette hit@5 and the retrieval pair, to four
decimals (docs/results.md rounds them to three where the gaps allow).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import load_bench, score, shared_paths, word_labels  # noqa: E402

from xmodal.devise.model import InputSpec  # noqa: E402
from xmodal.training.fit import TrainConfig
from xmodal.training.train import train  # noqa: E402

COLUMNS = ["seen hit@1", "zero-shot hit@1", "gen seen", "gen unseen", "gen H", "nette/1k hit@1", "nette/1k hit@5",
           "nette/21k hit@1", "nette/21k hit@5", "text→image P@10", "text→image mAP", "cifar10 hit@1"]
HEADS = [h.ljust(6) for h in ("seen", "zero", "genS", "genU", "genH", "1k@1", "1k@5", "21k@1", "21k@5", "P@10", "mAP",
                                "cifar")]
SPEC_KEYS = {"temperature"}


def parse_setting(text: str) -> tuple[InputSpec, TrainConfig]:
    layers, loss, lr, epochs, top, *extra = text.split(",")
    options = dict(item.split("=", 1) for item in extra)
    spec_options = {k: float(v) for k, v in options.items() if k in SPEC_KEYS}
    kinds = {"optimizer": str, "seed": int}
    config_options = {k: kinds.get(k, float)(v) for k, v in options.items() if k not in SPEC_KEYS}
    spec = InputSpec.parse(layers, int(top), **spec_options)
    return spec, TrainConfig(loss=loss, lr=float(lr), epochs=int(epochs), **config_options)


def main() -> None:
    bench = load_bench(*shared_paths(), quiet=True)
    print("setting".ljust(50), " ".join(HEADS))
    for setting in sys.argv[1:]:
        started = time.perf_counter()
        spec, config = parse_setting(setting)
        model = train(bench.tiny, bench.space, bench.visual, config, spec, seen=bench.seen, quiet=True).model
        row = score(lambda s: model.encode(s.features, s.logits), word_labels(bench.space), bench.data,
                    bench.seen_names)
        print(setting.ljust(50), " ".join(f"{row[c]:.4f}" for c in COLUMNS), f"{time.perf_counter() - started:.0f}s",
              flush=True)


if __name__ == "__main__":
    main()
