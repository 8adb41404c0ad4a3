"""What answering through the models costs: the largest answer (the product list) and the show.

    .venv/bin/python bench/answers.py [--products 20000] [--repeat 7]

Builds a show with ``--products`` products (bench/harness.py's config), then times, best of
``--repeat``, on one core in this process (the event loop's work for one request):
``GET /api/shows/{show}/products``'s body as the views send it (``ProductList``: validate,
then serialise, orchestrator/views/answer.py) against ``json.dumps`` of the same dicts (what
the views did before), and the same for a card's answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_config  # noqa: E402
from orchestrator import catalogue, config  # noqa: E402
from orchestrator.answers import Answer, Graphics, ProductList  # noqa: E402
from orchestrator.store import ShowState  # noqa: E402


def best_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        show = config.load(bench_config(Path(tmp), 8080, studios=2, products=args.products)).shows[0]
    state = ShowState(show=show.id)
    state = catalogue.put_card(show, state, catalogue.CardAsk("main", show.products[0].id, confirm_price=True), 0.0)
    products = {"products": catalogue.products_view(show, state)}
    graphics = {"version": 1, **catalogue.graphics_view(show, state, time.time())}
    rows: list[tuple[str, dict[str, Any], type[Answer]]] = [
        ("product list", products, ProductList),
        ("graphics (one card)", graphics, Graphics),
    ]
    print(f"{args.products} products, best of {args.repeat}")
    for name, data, model in rows:
        plain = best_ms(partial(json.dumps, data), args.repeat)
        validate = best_ms(partial(model.model_validate, data), args.repeat)
        value = model.model_validate(data)
        dump = best_ms(partial(value.model_dump_json, by_alias=True, exclude_unset=True), args.repeat)
        print(f"{name:22} json.dumps {plain:8.3f} ms | model: validate {validate:8.3f} ms + serialise {dump:8.3f} ms")


if __name__ == "__main__":
    main()
