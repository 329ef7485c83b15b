"""The one action registry: every command of the control panel, declared once.

Key bindings, the footer, the ``?`` help screen, the command palette and the config ``keys:``
overrides are all generated from ``COMMANDS``, so they cannot drift apart (harlequin's
``actions.py``, posting's binding ids, k9s's hint-driven help). No Textual here: the registry is
plain data that unit tests and ``aktui`` subcommands can read without starting a UI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from aktui.errors import ConfigError
from aktui.yamlnodes import did_you_mean

# Where a command applies. "global" commands work on every screen.
SCOPES = (
    "global",
    "dashboard",
    "providers",
    "applications",
    "logs",
    "detail",
    "history",
    "snippets",
    "doctor",
    "push",
    "confirm",
    "navigation",  # bound on every table and tree (aktui.screens.widgets.nav), listed everywhere
)


@dataclass(frozen=True, slots=True)
class Command:
    id: str  # stable; config `keys:` overrides refer to it
    keys: str  # Textual key names, comma separated ("question_mark", "R", "ctrl+p")
    action: str  # resolved as action_<name> on the screen ("app." prefix: on the app)
    label: str
    scope: str
    mutates: bool = False  # refused (greyed out, explained) in read-only mode
    footer: bool = True  # shown in the footer; 80 columns fit about eight hints
    description: str = ""  # one line for the help screen and the palette

    @property
    def key_list(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.keys.split(",") if k.strip())

    @property
    def key_display(self) -> str:
        return " ".join(display_key(k) for k in self.key_list)


_C = Command

COMMANDS: tuple[Command, ...] = (
    # --- global -------------------------------------------------------------------------
    _C(
        "global.help",
        "question_mark",
        "app.show_help",
        "Help",
        "global",
        description="keys of this screen",
    ),
    _C(
        "global.palette",
        "colon,ctrl+p",
        "app.command_palette",
        "Command",
        "global",
        footer=False,
        description="command mode: type a command name (Ctrl+P opens it too)",
    ),
    _C(
        "global.back",
        "escape",
        "app.back",
        "Back",
        "global",
        footer=False,
        description="close this screen or clear the filter",
    ),
    _C(
        "global.quit",
        "q",
        "app.back_or_quit",
        "Quit",
        "global",
        description="back to the previous screen; quit on the dashboard",
    ),
    _C(
        "global.quit_now",
        "ctrl+c",
        "app.quit",
        "Quit now",
        "global",
        footer=False,
        description="quit aktui from any screen",
    ),
    _C(
        "global.dashboard",
        "1",
        "app.goto('dashboard')",
        "Outposts",
        "global",
        footer=False,
        description="dashboard: outposts, cookie domains, findings",
    ),
    _C(
        "global.providers",
        "2",
        "app.goto('providers')",
        "Providers",
        "global",
        footer=False,
        description="proxy providers table",
    ),
    _C(
        "global.applications",
        "3",
        "app.goto('applications')",
        "Applications",
        "global",
        footer=False,
        description="applications table with who can reach them",
    ),
    _C(
        "global.history",
        "h",
        "app.show_history",
        "History",
        "global",
        footer=False,
        description="outcome of every action taken in this session",
    ),
    _C(
        "global.refresh",
        "ctrl+r",
        "app.refresh_now",
        "Refresh",
        "global",
        footer=False,
        description="fetch authentik and container state now",
    ),
    _C(
        "global.context",
        "c",
        "app.switch_context",
        "Context",
        "global",
        footer=False,
        description="switch to another authentik context from the config",
    ),
    _C(
        "global.snippets",
        "s",
        "app.show_snippets",
        "Snippets",
        "global",
        footer=False,
        description="NGINX snippets for each outpost",
    ),
    _C(
        "global.push",
        "p",
        "app.show_push",
        "Push",
        "global",
        footer=False,
        description="diff the snippets against each web server; apply with a (not read-only)",
    ),
    _C(
        "global.doctor",
        "d",
        "app.show_doctor",
        "Doctor",
        "global",
        footer=False,
        description="check the live setup for every field-guide pitfall",
    ),
    # --- dashboard ----------------------------------------------------------------------
    _C(
        "outposts.fix",
        "r",
        "fix_selected",
        "Fix",
        "dashboard",
        mutates=True,
        description="reload the highlighted outpost (a tree node or finding: its outposts)",
    ),
    _C(
        "outposts.restart",
        "ctrl+x",
        "restart_selected",
        "Restart",
        "dashboard",
        mutates=True,
        footer=False,
        description="restart the highlighted outpost's container (logs its users out)",
    ),
    _C(
        "outposts.fix_all",
        "R",
        "fix_all_stale",
        "Fix stale",
        "dashboard",
        mutates=True,
        description="reload every stale outpost (one confirmation lists them)",
    ),
    _C(
        "outposts.logs",
        "l",
        "logs_selected",
        "Logs",
        "dashboard",
        description="live log of the highlighted outpost (several merged by time for a node)",
    ),
    _C(
        "outposts.details",
        "enter",
        "details",
        "Details",
        "dashboard",
        footer=False,
        description="details of the selected outpost, cookie domain or finding",
    ),
    _C(
        "outposts.filter",
        "slash",
        "filter",
        "Filter",
        "dashboard",
        description="filter the outposts table",
    ),
    _C(
        "outposts.next_panel",
        "tab",
        "app.focus_next",
        "Next panel",
        "dashboard",
        footer=False,
        description="move between outposts, cookie domains and findings",
    ),
    # --- providers / applications -------------------------------------------------------
    _C(
        "providers.filter",
        "slash",
        "filter",
        "Filter",
        "providers",
        description="filter rows (any column contains the text)",
    ),
    _C(
        "providers.sort",
        "o",
        "sort",
        "Sort",
        "providers",
        description="sort: each press walks the columns, ascending then descending",
    ),
    _C(
        "providers.details",
        "enter",
        "details",
        "Details",
        "providers",
        description="outpost, group bindings (who can reach it) and findings",
    ),
    _C(
        "providers.logs",
        "l",
        "logs_selected",
        "Logs",
        "providers",
        description="merged logs of the outposts serving this provider",
    ),
    _C(
        "applications.filter",
        "slash",
        "filter",
        "Filter",
        "applications",
        description="filter rows (any column contains the text)",
    ),
    _C(
        "applications.sort",
        "o",
        "sort",
        "Sort",
        "applications",
        description="sort: each press walks the columns, ascending then descending",
    ),
    _C(
        "applications.details",
        "enter",
        "details",
        "Details",
        "applications",
        description="provider, outpost, group bindings and findings",
    ),
    _C(
        "applications.logs",
        "l",
        "logs_selected",
        "Logs",
        "applications",
        description="merged logs of the outposts serving this application",
    ),
    # --- logs ---------------------------------------------------------------------------
    _C(
        "logs.follow",
        "end,f,G",
        "follow",
        "Follow",
        "logs",
        description="jump to the newest line and keep following",
    ),
    _C(
        "logs.autoscroll",
        "s",
        "toggle_follow",
        "Autoscroll",
        "logs",
        footer=False,
        description="pause or resume following (k9s's autoscroll)",
    ),
    _C(
        "logs.top",
        "home,g",
        "top",
        "Top",
        "logs",
        footer=False,
        description="first line kept (pauses following)",
    ),
    _C("logs.down", "j", "line(1)", "Down", "logs", footer=False, description="one line down"),
    _C("logs.up", "k", "line(-1)", "Up", "logs", footer=False, description="one line up"),
    _C(
        "logs.half_down",
        "ctrl+d",
        "half_page(1)",
        "Half page down",
        "logs",
        footer=False,
        description="half a screen down",
    ),
    _C(
        "logs.half_up",
        "ctrl+u",
        "half_page(-1)",
        "Half page up",
        "logs",
        footer=False,
        description="half a screen up (pauses following)",
    ),
    _C("logs.find", "slash", "find", "Find", "logs", description="highlight and jump to text"),
    _C(
        "logs.find_next",
        "n",
        "find_next",
        "Next",
        "logs",
        footer=False,
        description="next match of the find text",
    ),
    _C(
        "logs.find_prev",
        "N",
        "find_prev",
        "Prev",
        "logs",
        footer=False,
        description="previous match of the find text",
    ),
    _C(
        "logs.annotated",
        "a",
        "toggle_annotated",
        "Annotated",
        "logs",
        description="show only lines the cheat sheet explains",
    ),
    _C(
        "logs.filter",
        "ampersand",
        "line_filter",
        "Grep",
        "logs",
        description="show only lines containing the text (like less's &); esc clears",
    ),
    _C(
        "logs.window",
        "m",
        "cycle_window",
        "Window",
        "logs",
        footer=False,
        description="time window: all, 5 min, 15 min, 1 h",
    ),
    _C(
        "logs.wrap",
        "w",
        "toggle_wrap",
        "Wrap",
        "logs",
        footer=False,
        description="wrap long lines instead of scrolling sideways",
    ),
    _C(
        "logs.timestamps",
        "t",
        "toggle_timestamps",
        "Timestamps",
        "logs",
        footer=False,
        description="time only, or full date, time and zone",
    ),
    _C(
        "logs.pretty",
        "p",
        "toggle_pretty",
        "Pretty JSON",
        "logs",
        footer=False,
        description="show each JSON line's fields pretty-printed",
    ),
    _C(
        "logs.collapse",
        "z",
        "toggle_collapse",
        "Fold notes",
        "logs",
        footer=False,
        description="fold explanations to one line each",
    ),
    _C(
        "logs.copy",
        "c",
        "copy_line",
        "Copy line",
        "logs",
        footer=False,
        description="copy the current find match (else the newest line shown) to the clipboard",
    ),
    _C(
        "logs.save",
        "ctrl+s",
        "save",
        "Save",
        "logs",
        footer=False,
        description="save every kept line to a file (plain text, no colour codes)",
    ),
    _C(
        "logs.fix",
        "r",
        "fix_source",
        "Fix",
        "logs",
        mutates=True,
        footer=False,
        description="reload the outpost of this log (restart when reload cannot help)",
    ),
    # --- detail / history ---------------------------------------------------------------
    _C(
        "detail.logs",
        "l",
        "logs_selected",
        "Logs",
        "detail",
        description="logs of the outposts of this object",
    ),
    _C(
        "history.details",
        "enter",
        "details",
        "Details",
        "history",
        description="full outcome of the selected action",
    ),
    # --- snippets / doctor / push ----------------------------------------------------------
    Command(
        "snippets.next_file",
        "tab",
        "app.focus_next",
        "Files/text",
        "snippets",
        description="move between the file list and the file's text",
    ),
    Command(
        "doctor.rerun",
        "ctrl+r",
        "rerun",
        "Run again",
        "doctor",
        description="run every check again against the live setup",
    ),
    Command(
        "doctor.filter",
        "slash",
        "filter",
        "Filter",
        "doctor",
        description="filter the checks (any column contains the text); errors stay first",
    ),
    Command(
        "doctor.details",
        "enter",
        "details",
        "Details",
        "doctor",
        footer=False,
        description="evidence and fix of the selected check",
    ),
    Command(
        "push.apply",
        "a",
        "apply",
        "Apply",
        "push",
        mutates=True,
        description="write, nginx -t, reload (rolled back on failure) on the changed hosts",
    ),
    Command(
        "push.replan",
        "ctrl+r",
        "replan",
        "Diff again",
        "push",
        description="read every host again and rebuild the diffs",
    ),
    # --- navigation (every table and tree) -----------------------------------------------
    _C("nav.down", "j", "cursor_down", "Down", "navigation", False, False, "next row"),
    _C("nav.up", "k", "cursor_up", "Up", "navigation", False, False, "previous row"),
    _C("nav.first", "g,home", "first_row", "First", "navigation", False, False, "first row"),
    _C("nav.last", "G,end", "last_row", "Last", "navigation", False, False, "last row"),
    _C(
        "nav.half_down",
        "ctrl+d",
        "half_page(1)",
        "Half page down",
        "navigation",
        False,
        False,
        "half a screen down",
    ),
    _C(
        "nav.half_up",
        "ctrl+u",
        "half_page(-1)",
        "Half page up",
        "navigation",
        False,
        False,
        "half a screen up",
    ),
    # --- confirmation -------------------------------------------------------------------
    # Enter never confirms: a restart logs users out, and Enter is pressed out of habit.
    _C("confirm.yes", "y", "confirm", "Yes", "confirm", description="do it"),
    _C("confirm.no", "n,escape", "cancel", "No", "confirm", description="cancel"),
)

BY_ID: dict[str, Command] = {c.id: c for c in COMMANDS}

_KEY_DISPLAY = {
    "question_mark": "?",
    "slash": "/",
    "colon": ":",
    "escape": "esc",
    "enter": "⏎",
    "tab": "tab",
    "end": "end",
    "home": "home",
    "ampersand": "&",
}


def display_key(key: str) -> str:
    if key in _KEY_DISPLAY:
        return _KEY_DISPLAY[key]
    if key.startswith("ctrl+"):
        return "^" + key[5:]
    return key


def for_scope(scope: str, commands: Iterable[Command] = COMMANDS) -> tuple[Command, ...]:
    return tuple(c for c in commands if c.scope == scope)


def find_action(
    action: str, scopes: Iterable[str], commands: Iterable[Command] = COMMANDS
) -> Command | None:
    """The command an action string belongs to, among the given scopes."""
    wanted = set(scopes)
    return next((c for c in commands if c.action == action and c.scope in wanted), None)


def check_keymap(overrides: Mapping[str, str], source: str = "config") -> dict[str, str]:
    """Validate ``keys:`` overrides (command id -> keys); unknown ids name the close ones."""
    for cid, keys in overrides.items():
        if cid not in BY_ID:
            hint = did_you_mean(cid, BY_ID)
            raise ConfigError(f"{source}: keys.{cid}: unknown command id{hint}")
        if not isinstance(keys, str) or not keys.strip():
            raise ConfigError(f"{source}: keys.{cid}: expected keys like 'r' or 'ctrl+r'")
    return dict(overrides)


def apply_keymap(
    overrides: Mapping[str, str], commands: Iterable[Command] = COMMANDS
) -> tuple[Command, ...]:
    """The registry with the user's keys in place of the defaults."""
    return tuple(replace(c, keys=overrides[c.id]) if c.id in overrides else c for c in commands)


SCOPE_TITLES = {
    "global": "everywhere",
    "navigation": "lists and tables",
    "dashboard": "dashboard",
    "providers": "providers (2)",
    "applications": "applications (3)",
    "logs": "log view (l)",
    "detail": "details (enter)",
    "history": "history (h)",
    "snippets": "snippets (s)",
    "doctor": "doctor (d)",
    "push": "push (p)",
    "confirm": "confirmations",
}


def keys_markdown(commands: Iterable[Command] = COMMANDS) -> str:
    """The README's keys table, generated from the registry (a test keeps them equal)."""
    rows = ["| where | key | command | what it does |", "| --- | --- | --- | --- |"]
    commands = tuple(commands)
    for scope in SCOPE_TITLES:
        for c in for_scope(scope, commands):
            keys = " ".join(f"`{k}`" for k in c.key_display.split(" "))
            what = c.description + (" (refused in read-only mode)" if c.mutates else "")
            rows.append(f"| {SCOPE_TITLES[scope]} | {keys} | {c.label} | {what} |")
    return "\n".join(rows) + "\n"
