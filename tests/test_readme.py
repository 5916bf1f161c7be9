"""Every `$ chainrule …` example in the README prints what the README shows (numbers aside)."""
import re
import shlex
from pathlib import Path

import pytest

import chainrule


README = Path(__file__).resolve().parents[1] / "README.md"


def _examples():
    out = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            lines = chunk.rstrip("\n").split("\n")
            out.append((lines[0], [ln for ln in lines[1:] if ln.strip()]))
    return out


@pytest.mark.parametrize("command,expected", _examples(), ids=[c for c, _ in _examples()])
def test_readme_example(command, expected, capsys):
    argv = shlex.split(command)
    assert argv[0] == "chainrule"
    code = chainrule.main(argv[1:])
    out = capsys.readouterr()
    text = out.out + out.err
    for line in expected:
        if "error vs central finite differences" in line:
            assert "(ok)" in text
            continue
        assert line.strip() in text, f"README line not printed: {line!r}\n{text}"
    want = 2 if any(ln.startswith("error:") for ln in expected) else 1 if expected[0].startswith("wrong:") else 0
    assert code == want
