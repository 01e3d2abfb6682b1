"""Running lmrec's independent pieces of work (evaluation shards, batch recommendation, search trials) in
this process or on a Ray cluster, with the same results either way."""

from lmrec.distributed.engine import LOCAL, Engine, LocalEngine, RayEngine, make_engine

__all__ = ["LOCAL", "Engine", "LocalEngine", "RayEngine", "make_engine"]
