"""``mes recipe …``: validate, import, inspect and move recipes through their lifecycle."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from mes.auth.signatures import SignatureMeaning
from mes.cli.common import (
    AsJson,
    PasswordStdin,
    database,
    free_text,
    out,
    print_json,
    read_password,
    user_name,
)
from mes.cli.tables import Column, ident, print_table, text
from mes.db import session_scope
from mes.errors import InputError, MesError
from mes.recipes import service
from mes.recipes.errors import Issue, RecipeInvalid
from mes.recipes.load import LoadResult, load_recipe_file
from mes.recipes.schema import recipe_json_schema

app = typer.Typer(help="Recipes: validate, import, approve, release, compare.", no_args_is_help=True)

By = typer.Option(
    ..., "--by", callback=user_name, help="User name of who does this (recorded in the audit trail)."
)
Reason = typer.Option(..., "--reason", callback=free_text, help="Why (recorded in the audit trail).")


def _expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            files.append(path)
    return files


def _load_all(paths: list[Path]) -> list[LoadResult]:
    files = _expand(paths)
    if not files:
        raise InputError("no recipe files given (a directory is searched for *.yaml)")
    return [load_recipe_file(p) for p in files]


@app.command()
def validate(
    paths: list[Path] = typer.Argument(..., help="Recipe files or directories of them."),
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON list of {path, line, column, field, message}."
    ),
) -> None:
    """Check recipe files; report every problem as PATH:LINE:COL: field: message (exit 1 if any)."""
    results = _load_all(paths)
    issues: list[Issue] = [i for r in results for i in r.issues]
    if as_json:
        out.print_json(json.dumps([i.as_dict() for i in issues]))
    else:
        for result in results:
            if result.ok:
                out.print(f"{result.path}: ok")
            for issue in result.issues:
                out.print(str(issue), markup=False)
        bad = sum(1 for r in results if not r.ok)
        out.print(
            f"{len(results)} file(s), {len(results) - bad} valid, {bad} invalid, {len(issues)} problem(s)"
        )
    if issues:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the JSON Schema of recipe files (for editors: yaml-language-server)."""
    typer.echo(json.dumps(recipe_json_schema(), indent=2, ensure_ascii=False))


@app.command("import")
def import_(paths: list[Path] = typer.Argument(...), by: str = By) -> None:
    """Validate and store recipe files as drafts; all or nothing."""
    results = _load_all(paths)
    issues = [i for r in results for i in r.issues]
    if issues:
        raise RecipeInvalid(issues)
    with database() as engine, session_scope(engine) as session:
        outcomes = []
        for result in results:
            assert result.recipe is not None  # noqa: S101 - no issues means a model
            row, what = service.import_recipe(session, result.recipe, by=by, source_path=result.path)
            outcomes.append(
                f"{row.name}@{row.version}: {what} ({row.status}, sha256 {row.content_hash[:12]})"
            )
    for line in outcomes:
        out.print(line)


@app.command("list")
def list_(as_json: bool = AsJson) -> None:
    """List every stored recipe version."""
    with database() as engine, session_scope(engine) as session:
        rows = service.list_recipes(session)
    if as_json:
        print_json(rows)
        return
    columns = [ident("recipe"), Column("family"), Column("status"), Column("sha256"), text("title")]
    print_table(
        columns,
        [[r.ref, r.product_family, r.status.value, r.content_hash[:12], r.title] for r in rows],
    )


@app.command()
def show(
    ref: str = typer.Argument(..., help="ID or ID@VERSION (newest version when no version is given)."),
    as_json: bool = AsJson,
) -> None:
    """Show one recipe version: lifecycle and content."""
    with database() as engine, session_scope(engine) as session:
        detail = service.recipe_detail(session, ref)
    if as_json:
        print_json(detail)
        return
    dumped = detail.model_dump(mode="json", exclude={"history", "signatures"})
    content = dumped.pop("content")
    for key, value in dumped.items():
        if value not in (None, ""):
            out.print(f"{key}: {value}", markup=False)
    for change in detail.history:
        when = f"{change.at:%Y-%m-%d %H:%M:%S}"
        out.print(f"history: {when} {change.status.value} by {change.by}: {change.reason}", markup=False)
    for sig in detail.signatures:
        when = f"{sig.signed_at:%Y-%m-%d %H:%M:%S}"
        out.print(f"signed: {when} {sig.printed_name} ({sig.signer}), {sig.meaning.value}, "
                  f"sha256 {sig.content_sha256}: {sig.reason}", markup=False)  # fmt: skip
    out.print("---")
    out.print(yaml.safe_dump(content, sort_keys=False, allow_unicode=True), markup=False)


@app.command("diff")
def diff_(a: str = typer.Argument(..., help="ID@A"), b: str = typer.Argument(..., help="ID@B")) -> None:
    """Show what changed between two stored versions (field: old → new)."""
    with database() as engine, session_scope(engine) as session:
        changed = service.diff_versions(session, b, against=a, version_required=True)
    if not changed.changes:
        out.print(f"{a} and {b} have the same content (sha256 {changed.ref_hash[:12]})")
        return
    for change in changed.changes:
        out.print(f"{change.path}: {json.dumps(change.before)} → {json.dumps(change.after)}", markup=False)


@app.command()
def approve(ref: str = typer.Argument(..., help="ID@VERSION"), by: str = By, reason: str = Reason) -> None:
    """Approve a draft (engineer)."""
    with database() as engine, session_scope(engine) as session:
        detail = service.approve(session, ref, by=by, reason=reason)
    out.print(f"{detail.ref} approved by {by}")


@app.command()
def release(
    ref: str = typer.Argument(..., help="ID@VERSION"),
    by: str = By,
    reason: str = Reason,
    password_stdin: bool = PasswordStdin,
    meaning: SignatureMeaning = typer.Option(
        SignatureMeaning.APPROVAL, "--meaning", help="What the signature means (recorded with it)."
    ),
) -> None:
    """Release an approved version for production (quality; an electronic signature: the password,
    the reason and the meaning, over the version's content hash)."""
    password = read_password(password_stdin, f"releasing {ref}")
    with database() as engine:
        try:
            with session_scope(engine) as session:
                detail = service.release(
                    session, ref, by=by, password=password, reason=reason, meaning=meaning
                )
        except MesError as exc:
            with session_scope(engine) as session:
                service.record_refusal(session, ref, actor=by, action="recipe.release", error=exc)
            raise
    out.print(f"{detail.ref} released by {by} ({meaning.value}, sha256 {detail.content_hash[:12]})")


@app.command()
def obsolete(ref: str = typer.Argument(..., help="ID@VERSION"), by: str = By, reason: str = Reason) -> None:
    """Withdraw a version (engineer or quality); it can no longer be dispatched."""
    with database() as engine, session_scope(engine) as session:
        detail = service.obsolete(session, ref, by=by, reason=reason)
    out.print(f"{detail.ref} obsolete")
