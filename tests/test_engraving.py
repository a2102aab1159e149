"""MusicXML → SVG → PNG engraving and the font fix (mt_music.image.engraving)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
from fontTools.ttLib import TTFont

from mt_music.image import engraving

needs_rsvg = pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert missing (apt-get install librsvg2-bin)")

METRONOME_QUARTER = "\ue1d5"  # SMuFL metNoteQuarterUp, drawn as text in tempo marks


def single_staff_musicxml(measures: int) -> str:
    """One staff of quarter notes with a metronome mark in the first measure."""
    notes = "".join(
        f"<note><pitch><step>{step}</step><octave>4</octave></pitch><duration>1</duration><type>quarter</type></note>"
        for step in "CEGB"
    )
    first = (
        "<attributes><divisions>1</divisions><key><fifths>0</fifths></key>"
        "<time><beats>4</beats><beat-type>4</beat-type></time><clef><sign>G</sign><line>2</line></clef>"
        "</attributes><direction placement=\"above\"><direction-type><metronome><beat-unit>quarter</beat-unit>"
        "<per-minute>80</per-minute></metronome></direction-type></direction>"
    )
    body = "".join(f'<measure number="{n}">{first if n == 1 else ""}{notes}</measure>' for n in range(1, measures + 1))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><score-partwise version="4.0"><part-list>'
        f'<score-part id="P1"><part-name>Voice</part-name></score-part></part-list><part id="P1">{body}</part>'
        "</score-partwise>"
    )


@pytest.fixture(scope="module")
def font_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fonts")
    engraving.install_engraving_fonts(directory, refresh_cache=False)
    return directory


def test_verovio_data_holds_the_fonts_as_css():
    data = engraving.verovio_data_dir()
    for name in (*engraving.MUSIC_FONTS, engraving.TEXT_FONT_CSS):
        assert (data / f"{name}.css").is_file(), name


def test_install_fonts_is_idempotent(font_dir):
    names = sorted(path.name for path in font_dir.glob("*.ttf"))
    assert names == sorted(
        [f"{font}.ttf" for font in engraving.MUSIC_FONTS]
        + [f"LiberationSerif-{face}.ttf" for face in ("Regular", "Bold", "Italic", "BoldItalic")]
    )
    leipzig = TTFont(font_dir / "Leipzig.ttf")
    assert leipzig["name"].getDebugName(1) == "Leipzig"
    assert ord(METRONOME_QUARTER) in leipzig.getBestCmap()
    again = engraving.install_engraving_fonts(font_dir, refresh_cache=False)
    assert again.written == [] and len(again.unchanged) == 10
    assert engraving.engraving_fonts_installed(font_dir)


def test_command_line_install(tmp_path, capsys):
    command = ["install-fonts", "--font-dir", str(tmp_path), "--no-fc-cache"]
    assert engraving.main(command) == 0
    assert "10 written" in capsys.readouterr().out
    engraving.main(command)
    assert "0 written" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("fc-match") is None, reason="fontconfig tools missing")
def test_fontconfig_finds_installed_fonts(font_dir):
    env = dict(os.environ, FONTCONFIG_FILE=str(font_dir / engraving.FONTCONFIG_NAME))
    for family in ("Leipzig", "Bravura", "Liberation Serif"):
        found = subprocess.run(
            ["fc-match", "-f", "%{family}", family], env=env, capture_output=True, text=True, check=True
        )
        assert found.stdout.split(",")[0] == family


@needs_rsvg
def test_smufl_text_glyph_is_rasterized(font_dir):
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="160">'
        f'<text x="40" y="120" font-family="Leipzig" font-size="100">{METRONOME_QUARTER}</text></svg>'
    )
    ink = np.asarray(engraving.svg_to_grayscale(svg, font_dir=font_dir)) < 128
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert rows.size and cols.size, "nothing drawn"
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert height > 2 * width  # a note head with a stem, not a replacement box


@needs_rsvg
def test_engrave_one_system_per_page(font_dir, monkeypatch):
    monkeypatch.setenv(engraving.FONT_DIR_ENV, str(font_dir))
    pages = engraving.engrave(single_staff_musicxml(12), engraving.EngravingOptions(scale=30, page_width=1200))
    assert len(pages) >= 2
    for page in pages:
        assert len(page.staff_lines) == 1 and len(page.staff_lines[0]) == 5
        assert page.staff_height == pytest.approx(0.72 * 30, abs=0.05)
        assert page.image.mode == "L"
        width, height = page.image.size
        assert width == 360 and 0 < page.staff_lines[0][0] < page.staff_lines[0][-1] < height
    assert 'font-family="Leipzig"' in pages[0].svg and "@font-face" not in pages[0].svg
    assert 'xml:space="preserve"' in pages[0].svg and "Liberation Serif, Times" in pages[0].svg
    zoomed = engraving.engrave(single_staff_musicxml(2), engraving.EngravingOptions(scale=30), zoom=2.0)[0]
    assert zoomed.staff_height == pytest.approx(2 * 0.72 * 30, abs=0.1)
    assert zoomed.image.size[0] == 2 * 630


def test_options_and_inputs(tmp_path):
    options = engraving.EngravingOptions(font="Bravura", one_system_per_page=False, extra={"spacingStaff": 6})
    assert options.to_verovio()["font"] == "Bravura" and options.to_verovio()["spacingStaff"] == 6
    with pytest.raises(engraving.EngravingError, match="unknown music font"):
        engraving.EngravingOptions(font="Comic").to_verovio()
    with pytest.raises(engraving.EngravingError, match="could not load"):
        engraving.render_svg_pages("<<<not xml")
    with pytest.raises(engraving.EngravingError, match="not found"):
        engraving.render_svg_pages(tmp_path / "missing.musicxml")
    xml = single_staff_musicxml(2)
    path = tmp_path / "score.musicxml"
    path.write_text(xml)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("META-INF/container.xml", '<container><rootfiles><rootfile full-path="s.xml"/></rootfiles></container>')
        bundle.writestr("s.xml", xml)
    (tmp_path / "score.mxl").write_bytes(archive.getvalue())
    expected = engraving.render_svg_pages(xml)
    for source in (path, str(path), tmp_path / "score.mxl", xml.encode()):
        svgs = engraving.render_svg_pages(source)
        assert len(svgs) == len(expected)
        assert engraving.staff_line_positions(svgs[0]) == engraving.staff_line_positions(expected[0])


def test_missing_rasterizer_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(engraving.shutil, "which", lambda name: None)
    with pytest.raises(engraving.EngravingError, match="apt-get install librsvg2-bin"):
        engraving.svg_to_png("<svg xmlns='http://www.w3.org/2000/svg'/>")
