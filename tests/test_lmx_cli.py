"""`python -m mt_music.lmx`: linearize / delinearize, .lmx files, one-line errors."""

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mt_music.lmx import format_lmx_file, parse_lmx_text, read_lmx_file, write_lmx_file
from mt_music.lmx.cli import main
from mt_music.lmx.errors import LmxError

REFERENCE_DIR = Path(__file__).parent / "data" / "olimpic_lmx"
GRANDSTAFF_XML = REFERENCE_DIR / "basics" / "grandstaff.xml"
GRANDSTAFF_LMX = REFERENCE_DIR / "basics" / "grandstaff.lmx"


def run_module(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mt_music.lmx", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def test_module_linearizes_to_one_line_on_stdout():
    completed = run_module("linearize", str(GRANDSTAFF_XML))
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 1 and lines[0].split() == read_lmx_file(GRANDSTAFF_LMX)


def test_module_reports_a_missing_file_in_one_line_without_traceback(tmp_path):
    completed = run_module("linearize", str(tmp_path / "absent.mxl"))
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
    assert "does not exist" in completed.stderr


def test_help_describes_both_commands(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "linearize" in text and "delinearize" in text
    with pytest.raises(SystemExit):
        main(["linearize", "--help"])
    assert "--system" in capsys.readouterr().out


def test_linearize_writes_an_lmx_file_that_reads_back(tmp_path):
    output = tmp_path / "out.lmx"
    assert main(["linearize", str(GRANDSTAFF_XML), "-o", str(output), "--flavor", "extended"]) == 0
    text = output.read_text()
    assert text.startswith("version: 1.0\nflavor: extended\n---\n")
    assert read_lmx_file(output) == read_lmx_file(GRANDSTAFF_LMX)


def test_linearize_one_system(tmp_path, capsys):
    document = GRANDSTAFF_XML.read_text().replace(
        '<measure number="2" width="184.51">', '<measure number="2"><print new-system="yes"/>')
    source = tmp_path / "two_systems.musicxml"
    source.write_text(document)
    assert main(["linearize", str(source), "--system", "1"]) == 0
    assert capsys.readouterr().out.split() == [
        "measure", "key:fifths:0", "clef:G2", "staff:1", "clef:F4", "staff:2",
        "E5", "voice:1", "whole", "staff:1", "backup", "whole", "G3", "voice:5", "whole", "staff:2",
    ]
    assert main(["linearize", str(source), "--system", "2"]) == 2
    assert "system 2 does not exist" in capsys.readouterr().err


def test_unsupported_musicxml_fails_with_one_line(tmp_path, capsys):
    two_parts = tmp_path / "two_parts.xml"
    two_parts.write_text('<score-partwise><part-list/><part id="A"/><part id="B"/></score-partwise>')
    assert main(["linearize", str(two_parts)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {two_parts}: LMX takes one-part scores and this one has 2 parts; ")
    assert "--pianoform" in captured.err and captured.err.count("\n") == 1


def test_lenient_linearize_warns_and_continues(tmp_path, capsys):
    document = GRANDSTAFF_XML.read_text().replace("<beats>4</beats>", "<beats>99</beats>")
    source = tmp_path / "odd_time.xml"
    source.write_text(document)
    assert main(["linearize", str(source)]) == 2
    capsys.readouterr()
    assert main(["linearize", str(source), "--lenient"]) == 0
    captured = capsys.readouterr()
    assert "time" not in captured.out.split() and "warning: measure 1" in captured.err


def test_delinearize_prints_musicxml_and_problems(tmp_path, capsys):
    lmx = tmp_path / "model_output.lmx"
    lmx.write_text("measure clef:G2 C4 quarter stem:up bogus D4 quarter\n")
    assert main(["delinearize", str(lmx)]) == 0
    captured = capsys.readouterr()
    assert ET.fromstring(captured.out.split("\n", 2)[2]).tag == "score-partwise"
    assert captured.err == "problem: token 6 'bogus': not in the LMX vocabulary; dropped\n"


def test_delinearize_to_a_file_and_back(tmp_path):
    output = tmp_path / "grandstaff.musicxml"
    assert main(["delinearize", str(GRANDSTAFF_LMX), "-o", str(output)]) == 0
    linearized = tmp_path / "again.lmx"
    assert main(["linearize", str(output), "-o", str(linearized)]) == 0
    assert read_lmx_file(linearized) == read_lmx_file(GRANDSTAFF_LMX)


def test_delinearize_reads_tokens_from_stdin():
    completed = run_module("delinearize", "-", stdin="measure C4 whole\n")
    assert completed.returncode == 0 and "<step>C</step>" in completed.stdout


def test_delinearize_missing_file(capsys, tmp_path):
    assert main(["delinearize", str(tmp_path / "absent.lmx")]) == 2
    assert capsys.readouterr().err == f"error: input: {tmp_path / 'absent.lmx'} does not exist\n"


# --- .lmx files ------------------------------------------------------------------

def test_lmx_text_with_systems_comments_and_no_header():
    assert parse_lmx_text("measure C4 whole # one\n") == ["measure", "C4", "whole"]
    text = "version: 1.0\nflavor: core\n---\nmeasure clef:G2 # first\n---\nmeasure C4 whole\n"
    assert parse_lmx_text(text) == ["measure", "clef:G2", "measure", "C4", "whole"]


@pytest.mark.parametrize("header", ["version: 2.0", "flavor: spicy", "no colon here"])
def test_bad_lmx_headers_raise(header):
    with pytest.raises(LmxError):
        parse_lmx_text(f"{header}\n---\nmeasure\n")


def test_write_then_read_lmx_file(tmp_path):
    tokens = ["measure", "C4", "voice:1", "whole", "fermata"]
    write_lmx_file(tmp_path / "x.lmx", tokens, "extended")
    assert read_lmx_file(tmp_path / "x.lmx") == tokens
    assert format_lmx_file(tokens).splitlines()[1] == "flavor: core"
