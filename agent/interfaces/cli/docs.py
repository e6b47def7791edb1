"""``chamberlain docs``: ingest documents into the knowledge base and search it as a user."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="Ingest and search the document knowledge base.", no_args_is_help=True)

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="CHAMBERLAIN_DATA_DIR",
        help="Where all state lives (default ./.chamberlain); the knowledge base is under knowledge/.",
    ),
]
ChromaUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--chroma-url",
        help="Chroma server URL (http://host:8000). Default: CHAMBERLAIN_CHROMA_URL, else an embedded store.",
    ),
]
CollectionOpt = Annotated[str, typer.Option("--collection", help="Chroma collection name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _settings(data_dir: Path | None) -> Any:
    from agent.interfaces.cli.support import load_settings

    return load_settings(data_dir)


def _open(settings: Any, chroma_url: str | None, collection: str) -> Any:
    from connectors.errors import ConnectorError
    from connectors.knowledge import KnowledgeIndex

    try:
        return KnowledgeIndex.open(
            settings.knowledge_dir, chroma_url=chroma_url or settings.chroma_url, collection=collection
        )
    except (ConnectorError, ValueError) as exc:
        _fail(f"cannot open the knowledge base: {exc}")


def _fail(message: str, code: int = 2) -> Any:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="A folder (ingested recursively) or one file.")],
    groups: Annotated[
        str | None,
        typer.Option(
            "--groups",
            help="Comma-separated groups allowed to read documents that name no groups of their own "
            "(front matter 'groups:' wins). Default: everyone.",
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    chroma_url: ChromaUrlOpt = None,
    collection: CollectionOpt = "knowledge",
    as_json: JsonOpt = False,
) -> None:
    """Ingest Markdown, text, HTML and PDF files; only new or changed passages are embedded."""
    from connectors.errors import ConnectorError
    from connectors.knowledge import DocumentError, rich_progress
    from connectors.knowledge.loaders import parse_groups

    if not path.exists():
        _fail(f"{path}: no such file or folder")
    try:
        default_groups = parse_groups(groups, "--groups") if groups else None
    except DocumentError as exc:
        _fail(str(exc))
    index = _open(_settings(data_dir), chroma_url, collection)
    console = Console(stderr=True)
    try:
        if as_json:
            report = index.ingest(path, default_groups)
        else:
            with rich_progress("ingesting", console=console) as progress:
                report = index.ingest(path, default_groups, progress)
    except ConnectorError as exc:
        _fail(f"ingest failed: {exc}", 1)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        out = Console()
        out.print(
            f"[bold]{len(report.added)}[/bold] added, [bold]{len(report.updated)}[/bold] updated, "
            f"[bold]{len(report.unchanged)}[/bold] unchanged, [bold]{len(report.removed)}[/bold] removed; "
            f"{report.chunks_embedded} chunks embedded, {report.chunks_deleted} deleted "
            f"in {report.seconds:.1f}s"
        )
        for file, message in report.errors.items():
            out.print(f"[yellow]skipped[/yellow] {escape(file)}: {escape(message)}")
        for file, message in report.skipped.items():
            out.print(f"[dim]not ingested[/dim] {escape(file)}: {escape(message)}")
    if report.errors:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    user: Annotated[str, typer.Option("--user", help="Directory id to search as, e.g. u_alice.")],
    k: Annotated[int, typer.Option("--k", min=1, max=50, help="How many passages.")] = 5,
    mode: Annotated[str, typer.Option("--mode", help="hybrid | vector | bm25")] = "hybrid",
    data_dir: DataDirOpt = None,
    chroma_url: ChromaUrlOpt = None,
    collection: CollectionOpt = "knowledge",
    directory: Annotated[
        Path | None, typer.Option("--directory", help="People directory YAML (default: from settings).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the knowledge base with USER's permissions; prints passages with citations."""
    from connectors.errors import ConnectorError
    from connectors.knowledge import MODES
    from policies.directory import Directory
    from policies.errors import PolicyError

    if mode not in MODES:
        _fail(f"--mode must be one of {', '.join(MODES)}")
    settings = _settings(data_dir)
    try:
        people = Directory.load(directory or settings.directory_path)
        principal = people.get(user)
    except PolicyError as exc:
        _fail(str(exc))
    index = _open(settings, chroma_url, collection)
    try:
        hits = index.search(query, principal.groups, k, mode)
    except ConnectorError as exc:
        _fail(f"search failed: {exc}", 1)
    if as_json:
        rows = [
            {
                "rank": h.rank,
                "score": round(h.score, 6),
                "citation": h.passage.citation_id,
                "doc_id": h.passage.doc_id,
                "title": h.passage.title,
                "section": h.passage.section,
                "uri": h.passage.uri,
                "updated": h.passage.updated,
                "passage": h.passage.text,
            }
            for h in hits
        ]
        typer.echo(json.dumps({"query": query, "user": user, "mode": mode, "hits": rows}, indent=2))
        return
    out = Console()
    if not hits:
        out.print(f"No passages found that {escape(principal.name)} may read.")
        return
    table = Table(title=f"{escape(query)} — as {escape(principal.label)}", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("Citation", overflow="fold", ratio=2)
    table.add_column("Passage", ratio=3)
    for h in hits:
        p = h.passage
        cite = f"[bold]{escape(p.title)}[/bold]"
        if p.section:
            cite += f"\n{escape(p.section)}"
        cite += f"\n[dim]{escape(p.uri)}[/dim]\n[dim]{escape(p.citation_id)}[/dim]"
        table.add_row(str(h.rank), cite, escape(p.text))
    out.print(table)


__all__ = ["app"]
