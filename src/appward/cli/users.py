"""Accounts: `appward users ...` (addressed by username, in any case)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from appward.cli.arguments import JsonFlag
from appward.cli.output import print_json, print_table
from appward.cli.run import fail, run, settings
from appward.clock import SystemClock
from appward.errors import InvalidInput
from appward.mail import mailer_for
from appward.presenters import present_invitation, present_user
from appward.services import Services
from appward.users.account_security import reset_url
from appward.users.invitations import invitation_message
from appward.users.models import Role
from appward.users.service import NO_ROLE, parse_role

app = typer.Typer(help="Accounts: end users, developers and admins.", no_args_is_help=True)

ROLE_HELP = "admin (the console) or developer (the portal); none: a plain end user."
Username = Annotated[str, typer.Argument(help="The account's username (any case).")]


@app.command("create")
def users_create(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    role: Annotated[str | None, typer.Option("--role", help=ROLE_HELP)] = None,
    email: Annotated[
        str | None, typer.Option("--email", help="E-mail address (unverified).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an account (the password is asked for, or read from stdin)."""
    given_role = _role(role)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else _prompt_password()

    async def work(services: Services) -> dict[str, Any]:
        user = await services.users.create(username, password, role=given_role, email=email)
        return present_user(user)

    user = run(work)
    if as_json:
        print_json(user)
    else:
        typer.echo(f"user {user['username']} created (id {user['id']})")


def _prompt_password() -> str:
    try:
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    except typer.Abort:  # end of input: no terminal to ask at
        fail("no password given: type it at the prompt, or pipe it with --password-stdin")
    return password


def _role(value: str | None) -> Role | None:
    """The role named on the command line; an unknown one ends the command (exit 2)."""
    try:
        return parse_role(value)
    except InvalidInput as exc:
        fail(f"{exc.error}: {exc.description}")


@app.command("list")
def users_list(as_json: JsonFlag = False) -> None:
    """List accounts with their role, e-mail address and whether they are disabled."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [present_user(u) for u in await services.users.all()]

    items = run(work)
    if as_json:
        print_json({"items": items})
        return
    print_table(
        ["id", "username", "role", "email", "verified", "disabled", "created_at"],
        [
            [
                u["id"],
                u["username"],
                u["role"] or NO_ROLE,
                u["email"],
                "yes" if u["email_verified"] else "no",
                u["disabled_at"] or "no",
                u["created_at"],
            ]
            for u in items
        ],
    )


@app.command("show")
def users_show(username: Username, as_json: JsonFlag = False) -> None:
    """Show one account."""

    async def work(services: Services) -> dict[str, Any]:
        return present_user(await services.users.by_username(username))

    _print_user(run(work), as_json)


@app.command("set-role")
def users_set_role(
    username: Username,
    role: Annotated[str, typer.Argument(help="admin, developer or none.")],
    as_json: JsonFlag = False,
) -> None:
    """Give an account a role (or none: a plain end user); audited."""
    given_role = _role(role)

    async def work(services: Services) -> dict[str, Any]:
        users = services.users
        return present_user(await users.set_role(await users.by_username(username), given_role))

    _print_user(run(work), as_json)


@app.command("set-email")
def users_set_email(
    username: Username,
    email: Annotated[str, typer.Argument(help="The address; none removes it.")],
    verified: Annotated[
        bool, typer.Option("--verified", help="Mark the address as verified.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Set an account's e-mail address (unverified unless --verified); audited."""
    address = None if email == "none" else email

    async def work(services: Services) -> dict[str, Any]:
        users = services.users
        user = await users.by_username(username)
        return present_user(await users.update(user, email=address, email_verified=verified))

    _print_user(run(work), as_json)


@app.command("disable")
def users_disable(username: Username, as_json: JsonFlag = False) -> None:
    """Disable an account: it cannot sign in and its sessions end now."""

    async def work(services: Services) -> dict[str, Any]:
        users = services.users
        return present_user(await users.disable(await users.by_username(username)))

    _print_user(run(work), as_json)


@app.command("enable")
def users_enable(username: Username, as_json: JsonFlag = False) -> None:
    """Let a disabled account sign in again."""

    async def work(services: Services) -> dict[str, Any]:
        users = services.users
        return present_user(await users.enable(await users.by_username(username)))

    _print_user(run(work), as_json)


@app.command("end-sessions")
def users_end_sessions(username: Username, as_json: JsonFlag = False) -> None:
    """Sign an account out of every browser (end all its sessions)."""

    async def work(services: Services) -> int:
        users = services.users
        return await users.end_sessions(await users.by_username(username))

    ended = run(work)
    if as_json:
        print_json({"sessions_ended": ended})
    else:
        typer.echo(f"{ended} session(s) ended")


@app.command("delete")
def users_delete(
    username: Username,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the account and its grants are gone for good.")
    ] = False,
) -> None:
    """Delete an account with its sessions, consents and grants (its tokens stop working);
    the audit trail stays."""
    if not yes:
        fail("deleting an account cannot be undone: add --yes to confirm")

    async def work(services: Services) -> str:
        users = services.users
        user = await users.by_username(username)
        await users.delete(user)
        return user.username

    typer.echo(f"user {run(work)} deleted")


@app.command("reset-password")
def users_reset_password(
    username: Username,
    temporary: Annotated[
        bool,
        typer.Option(
            "--temporary",
            help="Set a temporary password (changed at the next sign-in) instead of "
            "creating a reset link.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Reset an account's password: print, once, a single-use reset link to pass on (or
    with --temporary a temporary password). Its sessions end either way."""
    config = settings()

    async def work(services: Services) -> dict[str, Any]:
        user = await services.users.by_username(username)
        security = services.account_security
        if temporary:
            return {"temporary_password": await security.set_temporary_password(user)}
        link = await security.issue_reset_link(user)
        return {
            "link": reset_url(config.issuer, link.token),
            "expires_at": link.record.expires_at.isoformat(),
        }

    result = run(work, config)
    if as_json:
        print_json(result)
    elif temporary:
        typer.echo(f"temporary password (shown once): {result['temporary_password']}")
    else:
        typer.echo(f"reset link (shown once, until {result['expires_at']}): {result['link']}")


@app.command("reset-2fa")
def users_reset_second_factor(username: Username, as_json: JsonFlag = False) -> None:
    """Remove an account's second factor and recovery codes (it lost both)."""

    async def work(services: Services) -> bool:
        user = await services.users.by_username(username)
        return await services.account_security.reset_second_factor(user)

    removed = run(work)
    if as_json:
        print_json({"removed": removed})
    else:
        typer.echo("second factor removed" if removed else "the account had no second factor")


def _print_user(user: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(user)
        return
    for key, value in user.items():
        typer.echo(f"{key}: {'-' if value is None else value}")


# --- invitations to the developer portal ("portal") ---


@app.command("invite")
def users_invite(
    email: Annotated[str, typer.Argument(help="Where the invitation is mailed.")],
    as_json: JsonFlag = False,
) -> None:
    """Invite a developer: mail a single-use sign-up link (7 days) to EMAIL. Without an
    SMTP server (development only) the link is printed instead."""
    config = settings()
    mailer = mailer_for(config, SystemClock())

    async def work(services: Services) -> tuple[dict[str, Any], str]:
        issued = await services.invitations.invite(email)
        message, url = invitation_message(issued, config.issuer, config.display_name)
        if mailer is None:
            fail("this server cannot send mail: set APPWARD_SMTP_HOST (nothing was kept)")
        await mailer.send(message)
        return present_invitation(issued.record), url

    invitation, url = run(work, config)
    shown = url if mailer is not None and mailer.development else None
    if as_json:
        print_json({**invitation, **({"invitation_url": shown} if shown else {})})
        return
    typer.echo(f"invitation {invitation['id']} sent to {invitation['email']}")
    if shown:
        typer.echo(f"development only, not mailed: {shown}")


@app.command("invitations")
def users_invitations(as_json: JsonFlag = False) -> None:
    """List the open invitations (never their links)."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [present_invitation(i) for i in await services.invitations.open()]

    items = run(work)
    if as_json:
        print_json({"items": items})
        return
    print_table(
        ["id", "email", "created_by", "expires_at"],
        [[i["id"], i["email"], i["created_by"], i["expires_at"]] for i in items],
    )


@app.command("revoke-invitation")
def users_revoke_invitation(
    invitation_id: Annotated[int, typer.Argument(help="The invitation's id (see invitations).")],
) -> None:
    """Make an open invitation's link stop working."""

    async def work(services: Services) -> None:
        await services.invitations.revoke(invitation_id)

    run(work)
    typer.echo(f"invitation {invitation_id} revoked")
