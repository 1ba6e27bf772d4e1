"""lines.LineSplitter: chunks in, complete lines out, with a cap on what one line may hold."""

from __future__ import annotations

from orchestra.system.lines import Line, LineSplitter


def split(chunks: list[bytes], max_bytes: int = 1024) -> list[Line]:
    splitter = LineSplitter(max_bytes)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + splitter.finish()


def test_lines_across_chunk_boundaries() -> None:
    lines = split([b"one\ntw", b"o\n", b"", b"thr", b"ee\nfour\n"])
    assert [line.data for line in lines] == [b"one", b"two", b"three", b"four"]
    assert not any(line.truncated for line in lines)


def test_byte_at_a_time() -> None:
    data = b"alpha\nbeta\n\ngamma\n"
    assert [line.data for line in split([bytes([b]) for b in data])] == [b"alpha", b"beta", b"", b"gamma"]


def test_crlf_is_one_line_ending() -> None:
    lines = split([b"a\r\nb\r", b"\nc\rd\r\n"])
    assert [line.data for line in lines] == [b"a", b"b", b"c\rd"]


def test_last_line_without_a_newline_is_kept() -> None:
    splitter = LineSplitter(1024)
    assert [line.data for line in splitter.feed(b"first\nlast")] == [b"first"]
    (last,) = splitter.finish()
    assert (last.data, last.truncated) == (b"last", False)
    assert splitter.finish() == []


def test_empty_stream_and_trailing_newline_give_no_extra_line() -> None:
    assert split([]) == []
    assert [line.data for line in split([b"x\n"])] == [b"x"]


def test_long_line_is_cut_at_the_cap_and_counted_whole() -> None:
    splitter = LineSplitter(10)
    lines = splitter.feed(b"0123456789abcdef") + splitter.feed(b"ghij\nshort\n" + b"z" * 25)
    lines += splitter.finish()
    assert [(line.data, line.length, line.truncated) for line in lines] == [
        (b"0123456789", 20, True), (b"short", 5, False), (b"z" * 10, 25, True)]


def test_line_of_exactly_the_cap_is_not_truncated() -> None:
    (line,) = split([b"0123456789\n"], max_bytes=10)
    assert (line.data, line.truncated) == (b"0123456789", False)


def test_big_input_is_not_buffered_beyond_the_cap() -> None:
    splitter = LineSplitter(1000)
    for _ in range(100):
        assert splitter.feed(b"x" * 100_000) == []
    assert len(splitter._partial) == 1000
    (line,) = splitter.feed(b"\n")
    assert (len(line.data), line.length) == (1000, 10_000_000)


def test_bytes_are_passed_through_untouched() -> None:
    raw = b"\xff\xfe invalid utf-8 \x00 nul"
    assert [line.data for line in split([raw + b"\n"])] == [raw]
