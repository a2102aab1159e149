"""Engraving: MusicXML → verovio SVG → PNG (rsvg-convert), with the music fonts rasterizers need.

Verovio draws music symbols as SVG paths, but TEXT that contains SMuFL glyphs (the note in a tempo
mark "♩ = 80", some directions) is a <tspan font-family="Leipzig"> whose font verovio can only embed
as a CSS @font-face — which rsvg-convert and cairosvg ignore, so those glyphs come out wrong or
missing. The fix: `install_engraving_fonts()` extracts the fonts from verovio's own data directory
(its <Font>.css files hold base64 WOFF2; fontTools + brotli turn them into TTF) into a user font
directory, and the rasterizer runs with a fontconfig file that includes that directory. The
metric-compatible Liberation Serif shipped the same way replaces "Times" (verovio lays text out with
Times metrics), so text widths match the layout.

Command line: `python -m mt_music.image.engraving install-fonts [--font-dir DIR] [--no-fc-cache]`.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

from mt_music.errors import ArgumentParser, UserError, check_output_dir, main_with_errors

MUSIC_FONTS = ("Leipzig", "Bravura", "Leland", "Petaluma", "Gootville")
TEXT_FONT_CSS = "Liberation"  # Liberation Serif, 4 faces, metric-compatible with Times
FONT_DIR_ENV = "MT_MUSIC_FONT_DIR"
FONTCONFIG_NAME = "fonts.conf"
RSVG_INSTALL_HINT = "install it with `apt-get install librsvg2-bin`"
_SVG_NS = "http://www.w3.org/2000/svg"

MusicXmlSource = str | Path | bytes


class EngravingError(UserError, RuntimeError):
    """Engraving or rasterization failed (bad MusicXML, missing rsvg-convert, missing fonts)."""


# ---------------------------------------------------------------------------------------------------
# Fonts
# ---------------------------------------------------------------------------------------------------


def verovio_data_dir() -> Path:
    """Verovio's resource directory inside the installed wheel (<Font>.css, <Font>/ glyph XML)."""
    import verovio

    return Path(verovio.__file__).resolve().parent / "data"


def default_font_dir() -> Path:
    """$MT_MUSIC_FONT_DIR, else $XDG_DATA_HOME/fonts/mt_music (~/.local/share/fonts/mt_music)."""
    if os.environ.get(FONT_DIR_ENV):
        return Path(os.environ[FONT_DIR_ENV]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "fonts" / "mt_music"


def fonts_in_css(css_path: Path) -> list[tuple[str, bytes]]:
    """Decodes every @font-face of a verovio CSS file into (file stem, TTF bytes)."""
    from fontTools.ttLib import TTFont  # needs `brotli` for WOFF2

    fonts = []
    for block in re.findall(r"@font-face\s*\{(.*?)\}", css_path.read_text(encoding="utf-8"), re.DOTALL):
        payload = re.search(r"base64,([A-Za-z0-9+/=\s]+)\)", block)
        if payload is None:
            continue
        font = TTFont(io.BytesIO(base64.b64decode(payload.group(1))), recalcTimestamp=False)
        font.flavor = None
        postscript_name = font["name"].getDebugName(6) or css_path.stem
        out = io.BytesIO()
        font.save(out)
        fonts.append((postscript_name, out.getvalue()))
    return fonts


@dataclass
class FontInstall:
    """What `install_engraving_fonts` did."""

    font_dir: Path
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    replaced: bool = False  # an existing file had different bytes and was overwritten
    cache_refreshed: bool = False

    @property
    def fontconfig_file(self) -> Path:
        return self.font_dir / FONTCONFIG_NAME


def install_engraving_fonts(font_dir: Path | str | None = None, refresh_cache: bool = True) -> FontInstall:
    """Extracts verovio's music fonts and Liberation Serif to TTF files in `font_dir`.

    Idempotent: files whose bytes are already right are left alone, and `fc-cache` (when present)
    runs only if something changed. Also writes `fonts.conf` there, which the rasterizer uses so
    the fonts are found even where `font_dir` is not on fontconfig's search path.
    """
    target = (Path(font_dir).expanduser() if font_dir else default_font_dir()).resolve()
    target.mkdir(parents=True, exist_ok=True)
    result = FontInstall(target)
    for css_name in (*MUSIC_FONTS, TEXT_FONT_CSS):
        css_path = verovio_data_dir() / f"{css_name}.css"
        if not css_path.exists():
            raise EngravingError(f"verovio font data missing: {css_path}")
        for stem, data in fonts_in_css(css_path):
            _write_if_changed(target / f"{stem}.ttf", data, result)
    _write_if_changed(target / FONTCONFIG_NAME, _fontconfig_text(target).encode("utf-8"), result)
    if refresh_cache and result.written and shutil.which("fc-cache"):
        # New files change the directory's mtime, which fc-cache notices; files rewritten in
        # place do not, so only then force a rescan (-f sleeps ~2 s to get a fresh timestamp).
        force = ["-f"] if result.replaced else []
        subprocess.run(["fc-cache", *force, str(target)], capture_output=True, check=False)
        result.cache_refreshed = True
    return result


def _write_if_changed(path: Path, data: bytes, result: FontInstall) -> None:
    if path.exists() and path.read_bytes() == data:
        result.unchanged.append(path)
        return
    result.replaced = result.replaced or path.exists()
    path.write_bytes(data)
    result.written.append(path)


def _fontconfig_text(font_dir: Path) -> str:
    """A fontconfig file: the system (or caller's) configuration plus `font_dir`."""
    base = os.environ.get("FONTCONFIG_FILE") or "/etc/fonts/fonts.conf"
    if Path(base).expanduser().resolve() == (font_dir / FONTCONFIG_NAME).resolve():
        base = "/etc/fonts/fonts.conf"  # never include ourselves
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        f'  <include ignore_missing="yes">{escape(str(base))}</include>\n'
        f"  <dir>{escape(str(font_dir))}</dir>\n</fontconfig>\n"
    )


def engraving_fonts_installed(font_dir: Path | str | None = None) -> bool:
    """Whether the Leipzig TTF and the fontconfig file are present in `font_dir`."""
    target = Path(font_dir).expanduser() if font_dir else default_font_dir()
    return (target / "Leipzig.ttf").exists() and (target / FONTCONFIG_NAME).exists()


# ---------------------------------------------------------------------------------------------------
# MusicXML → SVG
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngravingOptions:
    """Verovio layout choices; `extra` passes any other verovio option through unchanged."""

    scale: int = 40  # percent; staff height in px = 0.72 × scale at zoom 1
    page_width: int = 2100  # verovio units (px at scale 100)
    font: str = "Leipzig"
    one_system_per_page: bool = True
    adjust_page_height: bool = True
    header_and_footer: bool = False  # titles/page numbers are not part of a system crop
    extra: dict[str, Any] = field(default_factory=dict)

    def to_verovio(self) -> dict[str, Any]:
        if self.font not in MUSIC_FONTS:
            raise EngravingError(f"unknown music font {self.font!r}; choose one of {MUSIC_FONTS}")
        options: dict[str, Any] = {
            "scale": self.scale,
            "pageWidth": self.page_width,
            "font": self.font,
            "adjustPageHeight": self.adjust_page_height,
            "systemMaxPerPage": 1 if self.one_system_per_page else 0,
            "header": "auto" if self.header_and_footer else "none",
            "footer": "auto" if self.header_and_footer else "none",
            "smuflTextFont": "none",  # installed fonts instead of an @font-face rasterizers ignore
            "svgFormatRaw": True,  # no indentation inside <text>, so spaces can be preserved
        }
        options.update(self.extra)
        return options


def render_svg_pages(musicxml: MusicXmlSource, options: EngravingOptions | None = None, *,
                     quiet: bool = False) -> list[str]:
    """Engraves MusicXML (path, .mxl path, XML string or bytes) into one SVG string per page.

    `quiet`: no verovio log at all (a model's MusicXML makes it complain about what it repairs)."""
    import verovio

    options = options or EngravingOptions()
    if hasattr(verovio, "LOG_ERROR"):
        verovio.enableLog(verovio.LOG_OFF if quiet else verovio.LOG_ERROR)  # layout warnings are noise here
    toolkit = verovio.toolkit()
    toolkit.setOptions(options.to_verovio())
    if not _load_into(toolkit, musicxml):
        raise EngravingError("verovio could not load the MusicXML")
    pages = toolkit.getPageCount()
    if pages < 1:
        raise EngravingError("verovio produced no pages (empty score?)")
    return [raster_ready_svg(toolkit.renderToSVG(page)) for page in range(1, pages + 1)]


def _load_into(toolkit: Any, musicxml: MusicXmlSource) -> bool:
    if isinstance(musicxml, bytes):
        if musicxml[:2] == b"PK":
            return bool(toolkit.loadData(_musicxml_from_mxl(musicxml)))
        return bool(toolkit.loadData(musicxml.decode("utf-8")))
    if isinstance(musicxml, str) and musicxml.lstrip().startswith("<"):
        return bool(toolkit.loadData(musicxml))
    path = Path(musicxml)
    if not path.exists():
        raise EngravingError(f"MusicXML file not found: {path}")
    data = path.read_bytes()
    if data[:2] == b"PK":
        return bool(toolkit.loadData(_musicxml_from_mxl(data)))
    return bool(toolkit.loadData(data.decode("utf-8")))


def _musicxml_from_mxl(data: bytes) -> str:
    """The root MusicXML document of a compressed .mxl archive."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        root = None
        if "META-INF/container.xml" in names:
            container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
            rootfile = next((e for e in container.iter() if e.tag.endswith("rootfile")), None)
            root = rootfile.get("full-path") if rootfile is not None else None
        root = root or next(n for n in names if n.endswith((".xml", ".musicxml")) and "META-INF" not in n)
        return archive.read(root).decode("utf-8")


def raster_ready_svg(svg: str) -> str:
    """Adapts verovio SVG text for rasterizers.

    Prefers Liberation Serif (verovio's metric-compatible text font) over "Times, serif", which
    fontconfig may resolve to a wider serif; preserves spaces in <text> (" = " in tempo marks),
    which librsvg otherwise strips per <tspan>. Only safe on raw-formatted (unindented) SVG.
    """
    svg = svg.replace('font-family="Times, serif"', 'font-family="Liberation Serif, Times, serif"')
    if "\n" not in svg.strip():
        svg = svg.replace("<text ", '<text xml:space="preserve" ')
    return svg


# ---------------------------------------------------------------------------------------------------
# SVG geometry (ground truth for staff sizes and system positions)
# ---------------------------------------------------------------------------------------------------


def svg_pixel_transform(svg: str) -> tuple[float, float, float]:
    """(scale, x offset, y offset) mapping verovio's inner viewBox units to output pixels.

    The outer <svg> size is in px (rounded); the inner viewBox is fitted into it with
    preserveAspectRatio "xMidYMid meet": one uniform scale, centred.
    """
    root = ElementTree.fromstring(svg)
    width_px = float(root.get("width", "0").removesuffix("px"))
    height_px = float(root.get("height", "0").removesuffix("px"))
    inner = next((e for e in root.iter(f"{{{_SVG_NS}}}svg") if e.get("viewBox")), None)
    if inner is None:
        return 1.0, 0.0, 0.0
    _, _, view_w, view_h = (float(v) for v in inner.get("viewBox").split())
    scale = min(width_px / view_w, height_px / view_h)
    return scale, (width_px - view_w * scale) / 2.0, (height_px - view_h * scale) / 2.0


def staff_line_positions(svg: str) -> list[list[float]]:
    """y (px, in the rasterized page) of each staff line, one list per staff, top to bottom.

    Verovio draws a staff's lines once per measure; measures of the same staff are merged.
    """
    scale, _, offset_y = svg_pixel_transform(svg)
    root = ElementTree.fromstring(svg)
    segments: list[list[float]] = []
    _collect_staff_lines(root, 0.0, segments)
    unique = sorted({tuple(lines) for lines in segments})
    return [[offset_y + y * scale for y in lines] for lines in unique]


def _collect_staff_lines(element: ElementTree.Element, translate_y: float, staves: list[list[float]]) -> None:
    translate_y += _translate_y(element.get("transform", ""))
    if element.tag == f"{{{_SVG_NS}}}g" and "staff" in (element.get("class") or "").split():
        lines = [_horizontal_line_y(child) for child in element if child.tag == f"{{{_SVG_NS}}}path"]
        lines = sorted(translate_y + y for y in lines if y is not None)
        if lines:
            staves.append(lines)
    for child in element:
        _collect_staff_lines(child, translate_y, staves)


def _translate_y(transform: str) -> float:
    match = re.match(r"\s*translate\(\s*[-\d.]+[\s,]+([-\d.]+)\s*\)", transform)
    return float(match.group(1)) if match else 0.0


def _horizontal_line_y(path: ElementTree.Element) -> float | None:
    match = re.fullmatch(r"\s*M\s*([-\d.]+)[\s,]+([-\d.]+)\s*L\s*([-\d.]+)[\s,]+([-\d.]+)\s*", path.get("d", ""))
    if match and match.group(2) == match.group(4):
        return float(match.group(2))
    return None


def staff_height_px(svg: str) -> float:
    """Mean top-to-bottom staff-line distance of the page's staves, px."""
    staves = [lines for lines in staff_line_positions(svg) if len(lines) >= 2]
    if not staves:
        raise EngravingError("the SVG contains no staff lines")
    return float(np.mean([lines[-1] - lines[0] for lines in staves]))


# ---------------------------------------------------------------------------------------------------
# SVG → PNG
# ---------------------------------------------------------------------------------------------------


def svg_to_png(svg: str, zoom: float = 1.0, font_dir: Path | str | None = None) -> bytes:
    """Rasterizes SVG text with rsvg-convert on a white background; installs fonts if needed."""
    executable = shutil.which("rsvg-convert")
    if executable is None:
        raise EngravingError(f"rsvg-convert not found; {RSVG_INSTALL_HINT}")
    target = Path(font_dir).expanduser() if font_dir else default_font_dir()
    if not engraving_fonts_installed(target):
        install_engraving_fonts(target)
    env = dict(os.environ, FONTCONFIG_FILE=str(target / FONTCONFIG_NAME))
    command = [executable, "--format", "png", "--background-color", "white", "--zoom", str(zoom)]
    completed = subprocess.run(command, input=svg.encode("utf-8"), capture_output=True, env=env, check=False)
    if completed.returncode != 0 or not completed.stdout:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise EngravingError(f"rsvg-convert failed: {message[-1] if message else 'no output'}")
    return completed.stdout


def svg_to_grayscale(svg: str, zoom: float = 1.0, font_dir: Path | str | None = None) -> Image.Image:
    """Rasterizes SVG text to an 8-bit grayscale PIL image."""
    with Image.open(io.BytesIO(svg_to_png(svg, zoom, font_dir))) as image:
        return image.convert("L")


@dataclass(frozen=True)
class EngravedPage:
    """One engraved page (a single system by default) with its geometry."""

    svg: str
    image: Image.Image
    staff_lines: list[list[float]]  # px, per staff, in `image` coordinates

    @property
    def staff_height(self) -> float:
        return float(np.mean([lines[-1] - lines[0] for lines in self.staff_lines]))


def engrave(
    musicxml: MusicXmlSource, options: EngravingOptions | None = None, zoom: float = 1.0
) -> list[EngravedPage]:
    """MusicXML → rasterized pages with staff-line positions from the SVG geometry."""
    pages = []
    for svg in render_svg_pages(musicxml, options):
        lines = [[y * zoom for y in staff] for staff in staff_line_positions(svg)]
        pages.append(EngravedPage(svg, svg_to_grayscale(svg, zoom), lines))
    return pages


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(prog="python -m mt_music.image.engraving", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install-fonts", help="extract verovio's fonts for rasterizers")
    install.add_argument("--font-dir", type=Path, default=None, help=f"default: {default_font_dir()}")
    install.add_argument("--no-fc-cache", action="store_true", help="do not run fc-cache (it takes ~2 s)")
    args = parser.parse_args(argv)
    if args.command == "install-fonts":
        font_dir = check_output_dir((args.font_dir or default_font_dir()).expanduser(),
                                    "--font-dir" if args.font_dir else f"the font folder (${FONT_DIR_ENV} or default)")
        result = install_engraving_fonts(font_dir, refresh_cache=not args.no_fc_cache)
        print(
            f"engraving fonts in {result.font_dir}: {len(result.written)} written, "
            f"{len(result.unchanged)} already up to date"
            + ("; font cache refreshed" if result.cache_refreshed else "")
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m mt_music.image.engraving install-fonts …`; a bad --font-dir is one `error:` line."""
    return main_with_errors(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
