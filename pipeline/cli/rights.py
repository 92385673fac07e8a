"""``stylecast rights`` and ``stylecast forget``: what items may be used for, and erasure."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer

from pipeline.core.cli_support import fails_cleanly
from pipeline.core.errors import UnusableInputError

MAX_LISTED = 20   # ids named in an error line; the count says how many more


@fails_cleanly
def rights_show() -> None:
    """Show the rights policy in force (the default until one is set) and where it lives."""
    from pipeline.core import catalog
    from pipeline.core.settings import Settings

    settings = Settings.from_env()
    policy = catalog.read_policy(settings)
    typer.echo(json.dumps({"file": catalog.RIGHTS_POLICY.path(settings),
                           "default": policy.revision == 0, **json.loads(policy.to_json())},
                          indent=1))


@fails_cleanly
def rights_set(
    uses: Annotated[str | None, typer.Option(
        help="Allowed uses: any of analyse, display, train (comma-separated), or none.")] = None,
    licence: Annotated[str | None, typer.Option(
        help="The licence the rule is for (as manifests spell it, e.g. CC-BY-NC-4.0).")] = None,
    source: Annotated[str | None, typer.Option(
        help="The source the rule is for, for items without a licence.")] = None,
    remove: Annotated[bool, typer.Option(
        help="Remove the licence's or source's rule instead of setting it.")] = False,
) -> None:
    """Set one rule of the policy (with neither --licence nor --source: the rule for items
    that state no rights). It applies from the next run on, without re-ingesting."""
    from pipeline.core import catalog
    from pipeline.core.locks import store_lock
    from pipeline.core.rights import parse_uses
    from pipeline.core.settings import Settings

    if remove == (uses is not None):
        raise UnusableInputError("give --uses, or --remove (with --licence or --source)")
    try:
        allowed = None if remove else parse_uses(uses or "")
    except ValueError as err:
        raise UnusableInputError(f"--uses: {err}") from None
    settings = Settings.from_env()
    with store_lock(catalog.lock_path(settings, "rights-policy"), "rights policy"):
        try:
            policy = catalog.read_policy(settings).with_rule(licence, source, allowed)
        except ValueError as err:
            raise UnusableInputError(str(err)) from None
        catalog.write_policy(settings, policy)
    typer.echo(policy.to_json())


@fails_cleanly
def rights_models() -> None:
    """List the registered models that learned from erased items (retrain them)."""
    from pipeline.core.settings import Settings
    from pipeline.core.tracking import check_reachable
    from pipeline.jobs.forget import models_to_retrain

    settings = Settings.from_env()
    check_reachable(settings.mlflow_tracking_uri)
    for row in models_to_retrain(settings):
        typer.echo(json.dumps(row))


@fails_cleanly
def rights_audit() -> None:
    """Print the erasure audit log: who, when, how many; never what was erased."""
    from pipeline.core import catalog, storage
    from pipeline.core.settings import Settings

    with contextlib.suppress(FileNotFoundError):
        typer.echo(storage.read_bytes(catalog.AUDIT_LOG.path(Settings.from_env())).decode(),
                   nl=False)


def _asked(ids: list[str], file: Path | None) -> list[str]:
    asked = list(ids)
    if file is not None:
        if not file.is_file():
            raise UnusableInputError(f"--file {file}: not a file")
        asked += [line.strip() for line in file.read_text().splitlines()
                  if line.strip() and not line.startswith("#")]
    if not asked:
        raise UnusableInputError("name the item ids to forget, as arguments or --file (one "
                                 "per line)")
    return asked


@fails_cleanly
def forget(
    item_ids: Annotated[list[str] | None, typer.Argument(help="Item ids to erase.")] = None,
    file: Annotated[Path | None, typer.Option(
        help="A file of item ids, one per line ('#' starts a comment).")] = None,
    who: Annotated[str | None, typer.Option(
        help="Who asked, for the audit log (default: your user name).")] = None,
    no_tracking: Annotated[bool, typer.Option(
        help="Do not tag models in MLflow now (the next forget with tracking does).")] = False,
) -> None:
    """Erase items from every dataset of the home: rows, embeddings, styles, designs drawn
    from them, report images; tombstone them so no ingest brings them back; log it; tag the
    models that learned from them. Ids the home does not hold are listed (exit 2) after the
    others are erased."""
    from dataclasses import asdict

    from pipeline.core.settings import Settings
    from pipeline.jobs.forget import forget as run_forget

    asked = _asked(item_ids or [], file)
    settings = Settings.from_env()
    if not no_tracking:
        from pipeline.core.tracking import check_reachable

        check_reachable(settings.mlflow_tracking_uri)
    summary = run_forget(settings, asked, who, track=not no_tracking)
    typer.echo(json.dumps({**asdict(summary), "missing": len(summary.missing)}))
    if summary.missing:
        shown = ", ".join(summary.missing[:MAX_LISTED])
        more = len(summary.missing) - MAX_LISTED
        raise UnusableInputError(f"{len(summary.missing)} id(s) not held by this home: {shown}"
                                 + (f" and {more} more" if more > 0 else ""))
