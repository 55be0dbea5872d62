"""Microsoft Teams: activities arrive at POST /teams/messages through Microsoft's Teams SDK for Python
(`microsoft-teams-apps`, import name `microsoft_teams`), authenticated by the SDK's own JWT validation.

- `adapter.py`: the SDK's `HttpServerAdapter` for Starlette. The SDK registers its messaging route on *our* app;
  it never starts a server of its own.
- `inbound.py`: `TeamsInbound` (the SDK `App`, its activity routing, the single-tenant check) and the
  `TeamsListener` Protocol the rest of the bot implements.

`sdk.py` imports the SDK with `.env` loading switched off; the modules that use the SDK import it first, and the
package itself imports nothing (so `teams package`, which needs no SDK, runs without the `microsoft` extra).

The SDK calls `load_dotenv(find_dotenv(usecwd=True))` when `microsoft_teams.apps.app` is imported, which reads a
`.env` in the working directory *or any parent* into `os.environ` (variables already set win). Such a file could set
`DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS`, `CLIENT_SECRET` or `TENANT_ID` behind our configuration's back (and
feed the rest of the process variables nobody configured). python-dotenv (>= 1.2) skips loading while
`PYTHON_DOTENV_DISABLED` is set, so the import happens with it set, and the previous value is restored right after.
If something imported the SDK before this package, the load already happened: that is logged, and `TeamsInbound`
still refuses to start with authentication off (see `inbound.py`).
"""
