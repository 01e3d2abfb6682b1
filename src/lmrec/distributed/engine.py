"""Where lmrec runs work that splits into independent pieces: in this process, or on a Ray cluster.

An engine maps one function over a list of pieces (user shards, search trials) with some large shared
inputs (a fitted model, the history and target matrices). `LocalEngine` runs the pieces one after the
other in this process. `RayEngine` puts the shared inputs into Ray's object store once (LensKit's batch
inference pattern: `ray.put(model)`, then batched remote calls that take the reference) and runs one Ray
task per piece; the results come back in the order of the pieces, so whatever is merged from them is the
same as in a single process.

Ray is imported only here and only when a `RayEngine` is entered. Its workers import the lmrec source that
the driver runs (the source folder goes onto their `PYTHONPATH`), so a cluster never scores with another
lmrec than the one that fitted the model.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from lmrec.errors import ConfigError

LOCAL = "local"
"""Address meaning "start a Ray instance inside this process" (`ray.init()` with no address)."""


class Engine:
    """Runs `fn(item, **shared)` for every item; results in the order of `items`."""

    name: ClassVar[str] = "engine"
    parallel: ClassVar[bool] = False
    """Whether pieces run at the same time (the callers split work into pieces only when they do)."""

    @property
    def workers(self) -> int:
        """How many pieces can run at once."""
        return 1

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        shared: dict[str, Any],
        *,
        cpus_per_item: int = 1,
        describe: str | None = None,
    ) -> list[Any]:
        raise NotImplementedError

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        """What results.json records about where the work ran."""
        return {"engine": self.name, "workers": self.workers}


class LocalEngine(Engine):
    """The pieces one after the other in this process (lmrec's default)."""

    name: ClassVar[str] = "local"

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        shared: dict[str, Any],
        *,
        cpus_per_item: int = 1,
        describe: str | None = None,
    ) -> list[Any]:
        return [fn(item, **shared) for item in items]


def _call(fn: Callable[..., Any], item: Any, keys: tuple[str, ...], *values: Any) -> Any:
    # Ray resolves object references given as top-level arguments only, hence keys and values apart
    return fn(item, **dict(zip(keys, values, strict=True)))


class RayEngine(Engine):
    """One Ray task per piece on the cluster at `address` ("local": a Ray instance started in this process;
    "auto": the cluster `ray start` made on this machine; "HOST:PORT": that cluster's GCS).

    Entering connects (and `ray.init`s a local instance if asked); leaving disconnects. A cluster that
    was running before is left running.
    """

    name: ClassVar[str] = "ray"
    parallel: ClassVar[bool] = True

    def __init__(self, address: str = LOCAL, *, num_cpus: int | None = None) -> None:
        if not isinstance(address, str) or not address.strip():
            raise ConfigError(f"ray address must be 'local', 'auto' or HOST:PORT, got {address!r}")
        if num_cpus is not None and num_cpus < 1:
            raise ConfigError(f"ray num_cpus must be a positive integer, got {num_cpus}")
        self.address = address.strip()
        self.num_cpus = num_cpus
        self._started = False

    @property
    def workers(self) -> int:
        import ray

        if not ray.is_initialized():
            raise RuntimeError("RayEngine is used outside `with engine:`")
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def __enter__(self) -> RayEngine:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "the Ray engine needs the `ray` package: pip install 'lmrec[distributed]'"
            ) from None
        if ray.is_initialized():  # a caller's own session: use it, leave it open
            return self
        source = str(Path(__file__).resolve().parents[2])  # .../src, the folder holding `lmrec`
        path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH", "")) if p)
        local = self.address == LOCAL
        try:
            ray.init(
                address=None if local else self.address,
                num_cpus=self.num_cpus if local else None,
                include_dashboard=False,
                logging_level=logging.ERROR,
                log_to_driver=False,
                configure_logging=False,
                runtime_env={"env_vars": {"PYTHONPATH": path}},
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot connect to the Ray cluster at {self.address!r}: {exc}") from None
        self._started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        shared: dict[str, Any],
        *,
        cpus_per_item: int = 1,
        describe: str | None = None,
    ) -> list[Any]:
        import ray

        keys = tuple(shared)
        refs = [ray.put(shared[k]) for k in keys]
        task = ray.remote(num_cpus=cpus_per_item, max_retries=0)(_call)
        pending = [task.remote(fn, item, keys, *refs) for item in items]
        if describe is None:
            return ray.get(pending)  # type: ignore[no-any-return]
        from rich.progress import Progress

        order = {ref: i for i, ref in enumerate(pending)}
        out: list[Any] = [None] * len(pending)
        waiting = list(pending)
        with Progress() as bar:
            task_id = bar.add_task(describe, total=len(pending))
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                for ref in done:
                    out[order[ref]] = ray.get(ref)
                    bar.advance(task_id)
        return out

    def describe(self) -> dict[str, Any]:
        import ray

        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return {
            "engine": self.name,
            "address": self.address,
            "workers": self.workers,
            "nodes": len(nodes),
            "ray_version": ray.__version__,
        }


def make_engine(address: str | None) -> Engine:
    """The engine for a `--ray ADDRESS` option or an experiment's `ray: {address: ...}` (None: local)."""
    return LocalEngine() if address is None else RayEngine(address)
