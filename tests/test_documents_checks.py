"""Document checks on real bytes made here: type from content, size, pixels, PDF sanity;
and the words a candidate may type while documents are collected."""

import io
import struct
import zlib

import pytest
from PIL import Image
from pypdf import PdfWriter

from bot.config import DEFAULT_CHECKLIST, ConfigError, Settings
from bot.documents.checks import MIN_SHORT_SIDE_PX, check_document
from bot.documents.words import understand

MB = 1024 * 1024
BOTH = ("image", "pdf")


def image_bytes(fmt: str, size=(1200, 800), color=(30, 90, 160)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def pdf_bytes(password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    if password:
        writer.encrypt(password)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions in a few bytes (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "fmt,mime,suffix",
    [("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png"), ("HEIF", "image/heic", "heic")],
)
def test_real_images_pass(fmt, mime, suffix):
    result = check_document(image_bytes(fmt), max_bytes=20 * MB, accepts=BOTH)
    assert result.ok, result
    assert (result.kind, result.mime, result.suffix) == ("image", mime, suffix)
    assert result.details["width"] == 1200 and result.details["height"] == 800


def test_real_pdf_passes():
    result = check_document(pdf_bytes(), max_bytes=20 * MB, accepts=BOTH)
    assert result.ok
    assert (result.kind, result.suffix, result.details["pages"]) == ("pdf", "pdf", 1)


def test_encrypted_pdf_is_refused():
    result = check_document(pdf_bytes("secret"), max_bytes=20 * MB, accepts=BOTH)
    assert result.problem == "pdf_encrypted"


def test_fake_pdf_is_refused_by_its_bytes():
    result = check_document(b"just some text, named cv.pdf", max_bytes=20 * MB, accepts=BOTH)
    assert result.problem == "unknown_type"


def test_pdf_header_with_garbage_is_broken():
    data = b"%PDF-1.7\n" + b"\x00garbage" * 100
    assert check_document(data, max_bytes=20 * MB, accepts=BOTH).problem == "pdf_broken"


def test_truncated_jpeg_is_broken():
    data = image_bytes("JPEG", color=(10, 200, 10))
    result = check_document(data[: len(data) // 2], max_bytes=20 * MB, accepts=BOTH)
    assert result.problem == "image_broken"


def test_small_image_is_refused_with_its_size():
    small = image_bytes("PNG", size=(800, MIN_SHORT_SIDE_PX - 1))
    result = check_document(small, max_bytes=20 * MB, accepts=BOTH)
    assert result.problem == "image_too_small"
    assert result.details == {"width": 800, "height": MIN_SHORT_SIDE_PX - 1, "min_px": 600}
    exact = image_bytes("PNG", size=(MIN_SHORT_SIDE_PX, 900))
    assert check_document(exact, max_bytes=20 * MB, accepts=BOTH).ok


def test_oversized_file_is_refused_before_anything_else():
    data = pdf_bytes()
    result = check_document(data, max_bytes=len(data) - 1, accepts=BOTH)
    assert result.problem == "too_large"
    assert check_document(data, max_bytes=len(data), accepts=BOTH).ok


def test_empty_file():
    assert check_document(b"", max_bytes=MB, accepts=BOTH).problem == "empty"


def test_photo_takes_images_only():
    result = check_document(pdf_bytes(), max_bytes=20 * MB, accepts=("image",))
    assert result.problem == "pdf_not_accepted"
    assert check_document(image_bytes("JPEG"), max_bytes=20 * MB, accepts=("image",)).ok


def test_other_image_types_are_refused():
    assert check_document(image_bytes("GIF"), max_bytes=MB, accepts=BOTH).problem == (
        "unknown_type"
    )
    assert check_document(image_bytes("BMP"), max_bytes=MB * 8, accepts=BOTH).problem == (
        "unknown_type"
    )


def test_decompression_bomb_is_refused_without_decoding():
    bomb = png_header_only(40_000, 40_000)
    assert len(bomb) < 200
    result = check_document(bomb, max_bytes=MB, accepts=BOTH)
    assert result.problem == "image_too_many_pixels"


# -- words ---------------------------------------------------------------------------------

KEYS = list(DEFAULT_CHECKLIST)
NAMES = {"degree_certificate": ["学位证", "degree certificate"], "photo": ["证件照", "ID photo"]}


@pytest.mark.parametrize("text", ["跳过", " 跳过！", "先跳过", "skip", "Skip.", "SKIP THIS"])
def test_skip_words(text):
    assert understand(text, KEYS, NAMES).kind == "skip"


@pytest.mark.parametrize("text", ["进度", "查看进度", "progress", "Progress?", "清单"])
def test_progress_words(text):
    assert understand(text, KEYS, NAMES).kind == "progress"


@pytest.mark.parametrize(
    "text,items",
    [
        ("这是学位证", ("degree_certificate",)),
        ("学位证书", ("degree_certificate",)),
        ("这是我的毕业证照片", ("diploma",)),
        ("bank card", ("bank_card",)),
        ("Here is my bank card", ("bank_card",)),
        ("身份证正面", ("id_card_front",)),
        ("这是身份证反面的照片", ("id_card_back",)),
        ("身份证", ("id_card_front", "id_card_back")),
        ("3", ("diploma",)),
        ("第 8 项", ("photo",)),
        ("８", ("photo",)),  # full-width digit
        ("证件照", ("photo",)),
        ("my ID photo", ("photo",)),
        ("替换体检报告", ("health_report",)),
    ],
)
def test_naming_an_item(text, items):
    said = understand(text, KEYS, NAMES)
    assert said is not None and said.kind == "item"
    assert said.items == items


@pytest.mark.parametrize(
    "text",
    [
        "我不来了",
        "不好意思，我不去贵公司了",
        "学位证需要原件吗？",
        "I won't be joining after all",
        "9",  # only 8 items
        "0",
        "好的",
        "谢谢",
        "",
        "学位证" * 20,
        "'; DROP TABLE document; --",
        "{0.__class__}",
    ],
)
def test_other_text_is_not_ours(text):
    assert understand(text, KEYS, NAMES) is None


def test_naming_only_knows_this_checklist():
    assert understand("银行卡", ["id_card_front", "photo"], {}) is None
    assert understand("2", ["id_card_front", "photo"], {}).items == ("photo",)


# -- config --------------------------------------------------------------------------------


def test_config_refuses_unknown_checklist_items_naming_the_key():
    with pytest.raises(Exception) as caught:
        Settings().replace(documents={"checklist": ["id_card_front", "passport_scan"]})
    assert "passport_scan" in str(caught.value)
    assert Settings().replace(documents={"checklist": ["photo", "photo"]}).documents.checklist == [
        "photo"
    ]


def test_config_file_error_names_the_key(tmp_path):
    from bot.config import load_settings

    cfg = tmp_path / "c.toml"
    cfg.write_text('[documents]\nchecklist = ["id_card_front", "selfie"]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, environ={})
    assert caught.value.problems[0].startswith("documents.checklist:")
    assert "selfie" in caught.value.problems[0]
