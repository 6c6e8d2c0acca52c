"""`paperchat serve`: the web UI, and the store shared with every other process."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from typing import Annotated, NoReturn

import typer

from rag.cli.common import (
    GgufOption,
    app,
    console,
    errors,
    fail,
    open_chat,
    user_errors,
)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def ui_auth(host: str, no_auth: bool, credentials: str | None) -> tuple[str, str] | None:
    """The UI's login, or why serving on `host` without one is refused."""
    if credentials:
        user, colon, password = credentials.partition(":")
        if not (user and colon and password):
            fail("PAPERCHAT_AUTH must be user:password")
        return user, password
    if host not in LOOPBACK and not no_auth:
        fail(
            f"serving on {host} opens PaperChat to the network: set PAPERCHAT_AUTH="
            "user:password, or pass --no-auth to serve it without a login"
        )
    if host not in LOOPBACK:
        errors.print(f"[bold yellow]warning:[/] serving on {host} without a login (--no-auth)")
    return None


def stop(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def log_line(line: str) -> None:
    """One line of a long-running server's log, with its UTC time, never wrapped."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    errors.print(f"{stamp} {line}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; loopback by default.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 7860,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Allow no login off loopback.")
    ] = False,
    gguf: GgufOption = None,
    fetch_daily: Annotated[
        bool | None,
        typer.Option(
            "--fetch-daily",
            help="Fetch Daily Papers now and every PAPERCHAT_FETCH_EVERY hours (default 6).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the chat web UI (http://127.0.0.1:7860 by default). Other paperchat commands
    on the same data directory, a cron job's included, work while it runs."""
    from rag.local_llm import LocalModelError
    from rag.owner import StoreBusy

    with user_errors():
        chat = open_chat(gguf)
        try:
            chat.share_store()
        except StoreBusy as exc:
            fail(str(exc))
        secret = chat.settings.auth.get_secret_value() if chat.settings.auth else None
        if chat.local_model:  # load the model now, not on the first question
            try:
                chat.local_model.url  # noqa: B018
            except LocalModelError as exc:
                fail(str(exc))
    auth = ui_auth(host, no_auth, secret)
    from rag.schedule import DailyFetch
    from ui.app import serve as serve_ui  # gradio loads only for this command

    daily = None
    if chat.settings.fetch.daily if fetch_daily is None else fetch_daily:
        daily = DailyFetch(chat, chat.settings.fetch.every, report=log_line).start()
    with user_errors():
        try:
            app = serve_ui(chat, host, port, auth, daily)
        except OSError:  # Gradio's own message tells how to change launch(), not the CLI
            fail(
                f"cannot serve on {host}:{port}: the port is taken or the address is not this"
                " machine's; choose another with --port or --host"
            )
    url = app.local_url.rstrip("/")
    if chat.chroma_server:
        chat.chroma_server.announce(url)
    signal.signal(signal.SIGTERM, stop)  # systemd, kill: stopped as by Ctrl+C
    try:  # Ctrl+C may come as soon as the line is out
        console.print(f"PaperChat is running at {url} — press Ctrl+C to stop", highlight=False)
        while app.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        app.close()
        chat.close()
        console.print("PaperChat stopped.")
