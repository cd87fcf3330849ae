"""`python -m controlplane` / `videorec-controlplane`: serve the REST API (no local agent)."""

from __future__ import annotations

import sys

from controlplane.serving import check_exposure, configure_logging, serve
from controlplane.settings import Settings


def main() -> int:
    settings = Settings()
    configure_logging(settings)
    if not check_exposure(settings):
        return 2
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
