"""``python -m reparam_opt.sweep_summary SWEEP_DIR``: summarise an existing sweep (re-runs nothing)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reparam_opt.sweep_summary.report import write_report


def main() -> None:
    parser = argparse.ArgumentParser(description="Summarise a finished sweep directory (re-runs nothing).")
    parser.add_argument("sweep_dir", type=Path)
    args = parser.parse_args()
    if not args.sweep_dir.is_dir():
        parser.error(
            f"{args.sweep_dir} is not a directory; expected a sweep dir like outputs/multirun/<date>/<time>"
        )
    write_report(args.sweep_dir)
    print(args.sweep_dir / "summary.md")


if __name__ == "__main__":
    main()
