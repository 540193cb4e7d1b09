"""The ``flexiti`` command (``reconcile``, ``sandbox serve``); needs the ``cli`` extra.

Importing this package is cheap: click and rich load only when `main` runs, and nothing
in ``flexiti_async`` imports this package.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run the ``flexiti`` command line (the console script's entry point)."""
    try:
        from ._app import cli
    except ImportError as exc:  # click or rich missing: say which extra brings them
        import sys

        sys.stderr.write(
            f"flexiti: {exc.name or exc} is not installed; "
            "install the command with: pip install 'flexiti-async[cli]'\n"
        )
        raise SystemExit(2) from None
    cli.main(args=argv, prog_name="flexiti")
