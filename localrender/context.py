"""What every endpoint handler gets: the store, the real-database admin, the process runner and the timings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Context:
    """Shared by the HTTP layer, the endpoint modules and the lifecycle ticker."""

    store: Any                      # store.Store
    pg: Any = None                  # pgadmin.PgAdmin in real-database mode, else None
    runner: Any = None              # runner.Runner
    postgres_ready_after: float = 0.0
    deploy_step_seconds: float = 0.0
    public_url: str = ""            # http://127.0.0.1:P, for deploy-hook URLs
    clock: Callable[[], float] = field(default=time.time)
