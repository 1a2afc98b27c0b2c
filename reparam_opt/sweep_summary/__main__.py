"""``python -m reparam_opt.sweep_summary SWEEP_DIR``: summarise an existing sweep (re-runs nothing)."""

from __future__ import annotations

import sys
from pathlib import Path

from reparam_opt.sweep_summary.report import write_report
from reparam_opt.training.cli import LineParser


def main() -> None:
    parser = LineParser(
        prog="python -m reparam_opt.sweep_summary",
        description="Summarise a finished sweep directory (re-runs nothing).",
    )
    parser.add_argument("sweep_dir", type=Path)
    args = parser.parse_args()
    if not args.sweep_dir.is_dir():
        sys.exit(
            f"bad value SWEEP_DIR={args.sweep_dir}: not a directory; "
            "expected a sweep dir like outputs/multirun/<date>/<time>"
        )
    try:
        failed = write_report(args.sweep_dir)
    except OSError as error:
        sys.exit(f"could not write the sweep summary in {args.sweep_dir}: {error}")
    print(args.sweep_dir / "summary.md")
    if failed:  # as the end-of-sweep callback does: a sweep with a failed job is not a success
        sys.exit(f"{len(failed)} sweep job(s) failed; see {args.sweep_dir / 'summary.md'}")


if __name__ == "__main__":
    main()
