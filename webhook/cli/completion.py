"""Edge: ``stsmesh completion bash|zsh|fish`` — shell completion scripts, generated from the
argparse parser itself, so a new command or flag completes without anyone editing a script.

The parser is read once into a plain tree (:func:`command_tree`): each command path (``dry-run``,
``render per-pod``) with its subcommands, its flags and the fixed choices a flag takes. Each shell
gets that tree in its own idiom; zsh loads the bash function through ``bashcompinit``.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field

SHELLS = ("bash", "zsh", "fish")


@dataclass
class Command:
    path: tuple[str, ...]
    subcommands: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    choices: dict[str, list[str]] = field(default_factory=dict)
    """Flag → the values it accepts (argparse ``choices``)."""
    positional: list[str] = field(default_factory=list)
    """The values a positional argument accepts (``completion``'s shell)."""


def command_tree(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[Command]:
    """Every command reachable from ``parser``, depth first, the root (path ``()``) first."""
    here = Command(path)
    found = [here]
    for action in parser._actions:  # argparse has no public walk of its actions
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                here.subcommands.append(name)
                found.extend(command_tree(sub, (*path, name)))
        elif not action.option_strings:
            here.positional.extend(str(c) for c in action.choices or ())
        else:
            long = [o for o in action.option_strings if o.startswith("--")] or action.option_strings
            here.flags.extend(long)
            if action.choices:
                for option in action.option_strings:
                    here.choices[option] = [str(c) for c in action.choices]
    return found


def script(shell: str, parser: argparse.ArgumentParser, prog: str = "stsmesh") -> str:
    tree = command_tree(parser)
    if shell == "fish":
        return _fish(tree, prog)
    bash = _bash(tree, prog)
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + bash
    return bash


def _bash(tree: list[Command], prog: str) -> str:
    function = f"_{prog.replace('-', '_')}_complete"
    cases = []
    for command in tree:
        key = " ".join(command.path)
        words = " ".join([*command.subcommands, *command.positional, *command.flags])
        choice_cases = "".join(
            f"      {shlex.quote(flag)}) {_reply(values)}; return;;\n" for flag, values in command.choices.items()
        )
        cases.append(
            f"    {shlex.quote(key)})\n"
            f'      case "$prev" in\n{choice_cases}      esac\n'
            f"      {_reply(words.split())};;\n"
        )
    known = " ".join(shlex.quote(" ".join(c.path)) for c in tree if c.subcommands)
    return (
        f"# {prog} completion for bash (`source <({prog} completion bash)`)\n"
        f"{function}() {{\n"
        '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" path="" word i\n'
        f"  local parents=({known})\n"
        "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
        '    word="${COMP_WORDS[i]}"\n'
        '    [[ "$word" == -* ]] && continue\n'
        '    local next="${path:+$path }$word" parent\n'
        '    for parent in "${parents[@]}"; do\n'
        '      if [[ "$parent" == "$path" ]]; then path="$next"; break; fi\n'
        "    done\n"
        "  done\n"
        '  case "$path" in\n' + "".join(cases) + "  esac\n"
        "}\n"
        f"complete -o default -F {function} {prog}\n"
    )


def _reply(words: list[str]) -> str:
    return f'COMPREPLY=($(compgen -W {shlex.quote(" ".join(words))} -- "$cur"))'


def _fish(tree: list[Command], prog: str) -> str:
    lines = [f"# {prog} completion for fish (`{prog} completion fish | source`)"]
    for command in tree:
        if command.path:
            seen = "; and ".join(f"__fish_seen_subcommand_from {p}" for p in command.path)
            condition = (
                f"{seen}; and not __fish_seen_subcommand_from {' '.join(command.subcommands)}"
                if (command.subcommands)
                else seen
            )
        else:
            condition = "__fish_use_subcommand"
        for sub in [*command.subcommands, *command.positional]:
            lines.append(f"complete -c {prog} -f -n {shlex.quote(condition)} -a {shlex.quote(sub)}")
        for flag in command.flags:
            name = flag.lstrip("-")
            kind = "-l" if flag.startswith("--") else "-s"
            values = command.choices.get(flag)
            extra = f" -x -a {shlex.quote(' '.join(values))}" if values else ""
            lines.append(f"complete -c {prog} -n {shlex.quote(condition)} {kind} {name}{extra}")
    return "\n".join(lines) + "\n"
