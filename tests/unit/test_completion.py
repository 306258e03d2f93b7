"""Shell completion, generated from the parser: bash completes commands, subcommands, flags and
flag values when the script is really sourced and called as bash's completion machinery calls it."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest

from webhook.cli.completion import command_tree
from webhook.cli.main import build_parser, main


def completion(shell: str) -> str:
    out = io.StringIO()
    assert main(["completion", shell], out=out) == 0
    return out.getvalue()


def complete_in_bash(*words: str) -> list[str]:
    """What bash offers after ``stsmesh WORDS`` (the last word is the one being completed)."""
    line = ["stsmesh", *words]
    array = " ".join(f"'{w}'" for w in line)
    call = f'COMP_WORDS=({array}); COMP_CWORD={len(line) - 1}; _stsmesh_complete; printf "%s\\n" "${{COMPREPLY[@]}}"'
    program = f"{completion('bash')}\n{call}\n"
    done = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(
    ("words", "offered", "not_offered"),
    [
        (("dr",), {"dry-run"}, {"serve"}),
        (("",), {"dry-run", "serve", "audit", "completion", "render"}, set()),
        (("dry-run", "--me"), {"--mesh", "--mesh-version"}, {"--cert-file"}),
        (("dry-run", "--mesh", ""), {"istio", "linkerd", "consul", "kuma", "cilium", "none", "auto"}, set()),
        (("dry-run", "x.yaml", "-o", ""), {"text", "json", "yaml", "patched"}, set()),
        (("serve", "--log-format", ""), {"text", "json"}, set()),
        (("render", ""), {"per-pod"}, {"dry-run"}),
        (("render", "per-pod", "--service-"), {"--service-type"}, set()),
        (("completion", ""), {"bash", "zsh", "fish"}, set()),
    ],
)
def test_bash_completes_from_the_parser(words: tuple[str, ...], offered: set[str], not_offered: set[str]) -> None:
    got = set(complete_in_bash(*words))
    assert offered <= got, got
    assert not (not_offered & got), got


def test_every_command_and_flag_is_in_every_script() -> None:
    tree = command_tree(build_parser())
    scripts = {shell: completion(shell) for shell in ("bash", "zsh", "fish")}
    for command in tree:
        for word in [*command.subcommands, *command.flags]:
            for shell, text in scripts.items():
                name = word.lstrip("-") if shell == "fish" else word
                assert name in text, f"{shell}: {' '.join(command.path)} {word}"
    assert scripts["zsh"].startswith("autoload -U +X bashcompinit")


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_accepts_its_script() -> None:
    subprocess.run(["fish", "--no-execute", "-c", completion("fish")], check=True)
