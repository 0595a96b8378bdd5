"""Every bad space file from tests/test_config.py, through the real CLI entry point: exit 2, a located
message on stderr, never a traceback. In-process (hposweep.cli.main) so 50+ cases stay fast; one case
also runs as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hposweep.cli.app import main
from tests.test_config import BAD, write


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["hposweep", *argv])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0)


@pytest.mark.parametrize(("text", "needles", "param", "line"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_validate_bad_file_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                   text: str, needles: list[str], param, line) -> None:
    path = Path(write(tmp_path, text)) if text.strip() else tmp_path / "space.yaml"
    if not text.strip():
        path.write_text(text)
    for command in (["validate", str(path)], ["run", "--space", str(path), "--", "true"]):
        assert run_main(monkeypatch, *command) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert str(path) in err
        if line is not None:
            assert f"{path}:{line}:" in err
        if param:
            assert f"parameter '{param}'" in err
        for needle in needles:
            assert needle in err
        assert "hint:" in err


def test_bad_file_through_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("parameters:\n  lr: {type: float, low: 1, high: 0}\n")
    r = subprocess.run([sys.executable, "-m", "hposweep", "validate", str(path)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{path}:2" in r.stderr and "lr" in r.stderr and "Traceback" not in r.stderr
