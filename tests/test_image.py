"""Score images: pixels, staff detection, preprocessing and token grids (mt_music.image)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from mt_music.image import grids, pixels, preprocessing, staves

needs_rsvg = pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert missing (apt-get install librsvg2-bin)")

# A small piano system: grand staff, beams, chords, ledger lines, a tempo mark, dynamics.
_RIGHT_HAND = ["C5 E5 G5", "D5", "E5", "F5", "G5", "A5", "B5", "C6"]
_LEFT_HAND = ["C3 G3", "E2", "G2", "C3"]


def _note(pitches: str, duration: int, kind: str, staff: int, beam: str | None = None) -> str:
    xml = []
    for index, pitch in enumerate(pitches.split()):
        chord = "<chord/>" if index else ""
        beam_xml = f'<beam number="1">{beam}</beam>' if beam and not index else ""
        xml.append(
            f"<note>{chord}<pitch><step>{pitch[0]}</step><octave>{pitch[1:]}</octave></pitch>"
            f"<duration>{duration}</duration><voice>{staff}</voice><type>{kind}</type>"
            f"<staff>{staff}</staff>{beam_xml}</note>"
        )
    return "".join(xml)


def _measure(number: int) -> str:
    attributes = (
        "<attributes><divisions>2</divisions><key><fifths>-2</fifths></key>"
        "<time><beats>4</beats><beat-type>4</beat-type></time><staves>2</staves>"
        '<clef number="1"><sign>G</sign><line>2</line></clef>'
        '<clef number="2"><sign>F</sign><line>4</line></clef></attributes>'
        '<direction placement="above"><direction-type><metronome><beat-unit>quarter</beat-unit>'
        "<per-minute>96</per-minute></metronome></direction-type><staff>1</staff></direction>"
        '<direction placement="below"><direction-type><dynamics><mf/></dynamics></direction-type>'
        "<staff>1</staff></direction>"
        if number == 1
        else ""
    )
    beams = ["begin", "continue", "continue", "end"] * 2
    right = "".join(_note(p, 1, "eighth", 1, beams[i]) for i, p in enumerate(_RIGHT_HAND))
    left = "".join(_note(p, 2, "quarter", 2) for p in _LEFT_HAND)
    backup = "<backup><duration>8</duration></backup>"
    return f'<measure number="{number}">{attributes}{right}{backup}{left}</measure>'


def piano_musicxml(measures: int = 3) -> str:
    body = "".join(_measure(n) for n in range(1, measures + 1))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><score-partwise version="4.0"><part-list>'
        '<score-part id="P1"><part-name>Piano</part-name></score-part></part-list>'
        f'<part id="P1">{body}</part></score-partwise>'
    )


@pytest.fixture(scope="module")
def engravings(tmp_path_factory):
    """(scale, page) for engravings of the same system at several verovio scales."""
    from mt_music.image import engraving

    font_dir = tmp_path_factory.mktemp("fonts")
    engraving.install_engraving_fonts(font_dir, refresh_cache=False)
    pages = []
    for scale in (20, 28, 40, 55, 80):
        svg = engraving.render_svg_pages(piano_musicxml(), engraving.EngravingOptions(scale=scale))[0]
        image = engraving.svg_to_grayscale(svg, font_dir=font_dir)
        pages.append((scale, svg, image))
    return pages


# --------------------------------------------------------------------------------------------------
# Pixels
# --------------------------------------------------------------------------------------------------


@needs_rsvg
def test_staff_height_matches_svg_geometry_at_several_scales(engravings):
    from mt_music.image import engraving

    for scale, svg, image in engravings:
        truth = engraving.staff_height_px(svg)
        assert truth == pytest.approx(0.72 * scale, abs=0.05)  # verovio: 8 units × 9 × scale/100
        found = staves.detect_staves(image)
        assert len(found) == 2, f"scale {scale}: found {len(found)} staves"
        estimate = staves.estimate_staff_height(image)
        assert abs(estimate - truth) <= 1.0, f"scale {scale}: estimate {estimate:.2f} vs {truth:.2f}"


@needs_rsvg
def test_rescaled_staff_height_is_18px(engravings):
    for scale, _, image in engravings:
        prepared = preprocessing.preprocess_score_image(image)
        height, width = prepared.content_shape
        content = (prepared.pixels[:height, :width] + 1.0) * 127.5
        assert abs(staves.estimate_staff_height(content) - 18.0) <= 1.0, f"scale {scale}"
        assert prepared.pixels.shape[0] % 16 == 0 and prepared.pixels.shape[1] % 16 == 0
        assert prepared.pixels.min() >= -1.0 and prepared.pixels.max() <= 1.0
        assert prepared.fits()


def test_given_staff_height_skips_detection():
    blank = np.full((50, 100), 255, np.uint8)
    with pytest.raises(staves.NoStaffFoundError, match="staff_height="):
        preprocessing.preprocess_score_image(blank)
    prepared = preprocessing.preprocess_score_image(blank, staff_height=36.0)
    assert prepared.scale == pytest.approx(0.5)
    assert prepared.content_shape == (25, 50)
    assert prepared.pixels.shape == (32, 64)
    assert np.all(prepared.pixels == 1.0)  # white → +1


def _synthetic_staff(space: float, width: int = 400) -> np.ndarray:
    image = np.full((int(10 * space) + 40, width), 230.0, np.float32)  # gray paper
    for line in range(5):
        y = round(20 + line * space)
        image[y : y + 2, 10 : width - 10] = 20.0
    return image


def test_synthetic_staff_and_skew_tolerance():
    image = _synthetic_staff(space=10.0)
    assert staves.estimate_staff_height(image) == pytest.approx(40.0, abs=0.5)
    rotated = np.asarray(Image.fromarray(image.astype(np.uint8)).rotate(1.0, Image.BICUBIC, fillcolor=230))
    assert staves.estimate_staff_height(rotated) == pytest.approx(40.0, abs=1.0)


def test_whitening_padding_and_range():
    rng = np.random.default_rng(0)
    paper = np.clip(rng.normal(225, 4, (37, 70)), 0, 255)
    paper[10:12, 5:60] = 30  # ink
    whitened = pixels.whiten_background(paper)
    assert np.all(whitened[paper > np.median(paper) - 20] == 255)
    assert np.all(whitened[10:12, 5:60] == 30)
    padded = preprocessing.pad_to_multiple(whitened)
    assert padded.shape == (48, 80) and np.all(padded[37:] == 255) and np.all(padded[:, 70:] == 255)
    model_range = pixels.to_model_range(padded)
    assert model_range.max() == 1.0 and model_range.min() == pytest.approx(30 / 127.5 - 1)
    np.testing.assert_array_equal(pixels.from_model_range(model_range), np.rint(padded).astype(np.uint8))


def test_load_grayscale_sources(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)  # fully transparent → white
    assert np.all(pixels.load_grayscale(rgba) == 255)
    path = tmp_path / "gray.png"
    Image.fromarray(np.full((3, 3), 100, np.uint8)).save(path)
    assert np.all(pixels.load_grayscale(path) == 100)
    assert np.all(pixels.load_grayscale(np.full((2, 2), 0.5)) == 127.5)


def test_shift_augmentation():
    shifts = preprocessing.shift_augmentations()
    assert len(shifts) == 32 and (7, 3) in shifts and (0, 0) in shifts
    image = np.full((16, 32), 255, np.uint8)
    image[:4, :4] = 0
    prepared = preprocessing.preprocess_score_image(image, staff_height=18.0)
    shifted = preprocessing.shifted_padded_image(prepared, 7, 3)
    assert shifted.shape == (32, 48)  # 16 + 3 rows and 32 + 7 columns need another patch each
    assert np.all(shifted[3:7, 7:11] == -1.0) and (shifted == -1.0).sum() == 16
    assert preprocessing.shifted_padded_image(prepared, 0, 0).shape == (16, 32)
    with pytest.raises(ValueError):
        preprocessing.shifted_padded_image(prepared, 8, 0)


# --------------------------------------------------------------------------------------------------
# Token grids
# --------------------------------------------------------------------------------------------------

CONFIG = grids.DEFAULT_TOKEN_GRID


def _grid(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, CONFIG.codebook_size, (rows, cols, CONFIG.num_slots))


def test_native_code_layout():
    assert (CONFIG.pad_code, CONFIG.sep_code) == (1024, 1025)
    assert CONFIG.height_code(1) == 1026 and CONFIG.height_code(26) == 1051
    assert CONFIG.native_vocab_size == 1052
    small = grids.TokenGridConfig(codebook_size=8, num_slots=2, max_rows=3, max_cols=5)
    assert (small.pad_code, small.sep_code, small.height_code(3), small.native_vocab_size) == (8, 9, 12, 13)
    assert list(small.special_frame(small.sep_code)) == [9, 8]
    with pytest.raises(ValueError):
        CONFIG.height_code(27)


def test_flatten_is_column_major_and_round_trips():
    grid = _grid(3, 4)
    frames, positions = grids.flatten_token_grid(grid)
    assert frames.shape == (12, 4) and positions.shape == (12, 2)
    np.testing.assert_array_equal(frames[1], grid[1, 0])  # second frame: row 1 of column 0
    np.testing.assert_array_equal(frames[3], grid[0, 1])
    assert positions[:4].tolist() == [[0, 1], [0, 2], [0, 3], [1, 1]]
    np.testing.assert_array_equal(grids.unflatten_token_grid(frames, 3), grid)
    with pytest.raises(ValueError):
        grids.unflatten_token_grid(frames[:-1], 3)


def test_input_mode_join_and_split():
    systems = [_grid(3, 4, 1), _grid(5, 2, 2), _grid(2, 3, 3)]
    sequence = grids.join_systems_for_input(systems)
    assert len(sequence.frames) == 5 * (4 + 2 + 3) + 2
    sep_rows = np.flatnonzero(sequence.frames[:, 0] == CONFIG.sep_code)
    assert sep_rows.tolist() == [20, 31]
    assert sequence.positions[20].tolist() == [4, 0] and sequence.positions[21].tolist() == [5, 1]
    assert np.all(sequence.frames[20, 1:] == CONFIG.pad_code)
    assert np.all(sequence.frames[3:5] == CONFIG.pad_code)  # system 0 padded from 3 to 5 rows
    decoded = grids.split_systems_from_input(sequence.frames, rows=5)
    assert decoded.ok, decoded.issues
    for original, recovered in zip(systems, decoded.grids, strict=True):
        np.testing.assert_array_equal(recovered, original)
    unstripped = grids.split_systems_from_input(sequence.frames, rows=5, strip_padding=False)
    assert [g.shape[:2] for g in unstripped.grids] == [(5, 4), (5, 2), (5, 3)]


def test_output_mode_join_and_split():
    padded_system = np.full((6, 3, 4), CONFIG.pad_code)
    padded_system[:4] = _grid(4, 3, 5)  # PAD rows at the bottom are dropped
    systems = [_grid(2, 3, 4), padded_system]
    sequence = grids.join_systems_for_output(systems)
    assert len(sequence.frames) == 1 + 6 + 1 + 1 + 12
    assert sequence.frames[0].tolist() == [CONFIG.height_code(2)] + [CONFIG.pad_code] * 3
    assert sequence.frames[7, 0] == CONFIG.sep_code and sequence.frames[8, 0] == CONFIG.height_code(4)
    assert sequence.positions[:2].tolist() == [[0, 0], [0, 1]]  # height frame shares x of column 0
    assert sequence.positions[7:10].tolist() == [[3, 0], [4, 0], [4, 1]]  # SEP takes x = 3
    assert not np.any(sequence.frames[9:] == CONFIG.pad_code)
    decoded = grids.split_systems_from_output(sequence.frames)
    assert decoded.ok, decoded.issues
    np.testing.assert_array_equal(decoded.grids[0], systems[0])
    np.testing.assert_array_equal(decoded.grids[1], padded_system[:4])


def test_limits_are_enforced_on_join():
    with pytest.raises(ValueError, match="rows"):
        grids.join_systems_for_input([_grid(27, 2)])
    with pytest.raises(ValueError, match="columns"):
        grids.join_systems_for_output([_grid(2, 151)])
    with pytest.raises(ValueError):
        grids.join_systems_for_input([])
    prepared = preprocessing.preprocess_score_image(np.zeros((420, 40), np.uint8), staff_height=18.0)
    assert prepared.grid_shape == (27, 3) and not prepared.fits()


def test_malformed_output_sequences_never_raise():
    good = grids.join_systems_for_output([_grid(3, 4, 6), _grid(2, 2, 7)]).frames
    sep, pad = CONFIG.sep_code, CONFIG.pad_code
    cases = {
        "truncated last column": good[:-1],
        "missing first height": good[1:],
        "no height at all": good[1:7],
        "height without SEP": np.concatenate([good[:13], good[14:]]),
        "double SEP": np.concatenate([good[:14], good[13:]]),
        "out-of-range codes": np.where(np.arange(good.size).reshape(good.shape) == 9, 5000, good),
        "SEP in an inner slot": np.concatenate([good, [[5, sep, 5, 5]]]),
        "only a height": good[:1],
        "empty": np.zeros((0, 4), int),
        "wrong slot count": good[:, :2],
        "one-dimensional": good[:, 0],
        "garbage": np.array([[-3, 99999, pad, sep]] * 7),
        "not numbers": [["a", "b"]],
    }
    for name, frames in cases.items():
        decoded = grids.split_systems_from_output(frames)
        for grid in decoded.grids:
            assert grid.ndim == 3 and grid.shape[2] == 4, name
            assert grid.min() >= 0 and grid.max() <= pad, name
        assert name == "empty" or decoded.issues, f"{name}: no issue reported"
        grids.split_systems_from_input(frames, rows=3)  # must not raise either
    truncated = grids.split_systems_from_output(good[:-1])
    assert truncated.grids[1].shape == (2, 2, 4) and truncated.grids[1][1, 1, 0] == pad
    assert any("last column" in issue for issue in truncated.issues)
    missing = grids.split_systems_from_output(good[1:])
    assert missing.grids[0].shape[0] == 2  # borrowed from the next system's height
    assert any("missing height" in issue for issue in missing.issues)


def test_generic_join_and_split_wrappers():
    systems = [_grid(3, 2, 8), _grid(1, 3, 9)]
    for for_output in (False, True):
        frames, positions = grids.join_systems(systems, CONFIG, for_output=for_output)
        assert frames.shape[1] == 4 and positions.shape == (len(frames), 2)
        decoded = grids.split_systems(frames, CONFIG, for_output=for_output, rows=3)
        assert decoded.ok and [g.shape for g in decoded.grids] == [(3, 2, 4), (1, 3, 4)]
    with pytest.raises(ValueError, match="rows="):
        grids.split_systems(frames, CONFIG)
