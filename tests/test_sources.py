from __future__ import annotations

import shutil

import av
import numpy as np
import pytest

from autocrop.cli import main
from autocrop.config import Footage
from autocrop.errors import DataError
from autocrop.sources import FolderSource, VideoSource
from conftest import HIGHWAY, write_config


def _video(path, n=30, fps=10):
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(n):
            img = np.full((48, 64, 3), i * 8 % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_folder_ids_come_from_file_names_and_range():
    src = FolderSource(HIGHWAY / "input", Footage(frames=HIGHWAY / "input", start=470, stop=479, step=3))
    assert src.ids == [470, 473, 476, 479]
    fid, frame = next(src.frames())
    assert fid == 470 and frame.shape == (240, 320, 3) and frame.dtype == np.uint8


def test_folder_digest_depends_on_content(tmp_path):
    for name in ("in000001.jpg", "in000002.jpg"):
        shutil.copy(HIGHWAY / "input" / name, tmp_path / name)
    spec = Footage(frames=tmp_path)
    before = FolderSource(tmp_path, spec).digest([1, 2])
    shutil.copy(HIGHWAY / "input" / "in000003.jpg", tmp_path / "in000002.jpg")
    assert FolderSource(tmp_path, spec).digest([1, 2]) != before


def test_unreadable_frame_names_the_file(tmp_path):
    shutil.copy(HIGHWAY / "input" / "in000001.jpg", tmp_path / "in000001.jpg")
    (tmp_path / "in000002.jpg").write_bytes(b"not a jpeg")
    src = FolderSource(tmp_path, Footage(frames=tmp_path))
    with pytest.raises(DataError, match=r"in000002.jpg: unreadable frame 2"):
        list(src.frames())


def test_video_sampling_at_fps(tmp_path):
    path = _video(tmp_path / "clip.mp4", n=30, fps=10)
    every = VideoSource(path, Footage(video=path))
    assert len(every.ids) == 30
    sampled = VideoSource(path, Footage(video=path, fps=2))
    assert sampled.ids == list(range(6))
    frames = list(sampled.frames())
    assert [f for f, _ in frames] == sampled.ids
    assert frames[0][1].shape == (48, 64, 3)


def test_missing_video_exit_2(tmp_path, capsys):
    cfg = write_config(tmp_path, footage={"video": str(tmp_path / "missing.mp4")})
    assert main(["extract", str(cfg)]) == 2
    assert "missing.mp4: video file not found" in capsys.readouterr().err


def test_corrupt_video_exit_2_and_no_cache(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    cfg = write_config(tmp_path, footage={"video": str(bad)})
    assert main(["extract", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "broken.mp4: cannot decode video" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("name", ["clip.ts", "clip.mkv"])
def test_truncated_video_is_refused_unless_partial_is_allowed(tmp_path, capsys, name):
    """Streamable containers decode silently up to the damage; the source checks they end where they should."""
    full = _video(tmp_path / name, n=60, fps=10)
    assert len(VideoSource(full, Footage(video=full)).ids) == 60  # a whole file is whole
    data = full.read_bytes()
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(data[: len(data) // 2 + 77])
    with pytest.raises(DataError, match="truncated or damaged video.*decoding stops after frame.*allow_partial"):
        VideoSource(cut, Footage(video=cut))
    with pytest.warns(UserWarning, match="truncated or damaged"):
        partial = VideoSource(cut, Footage(video=cut, allow_partial=True))
    assert 10 < len(partial.ids) < 60
    cfg = write_config(tmp_path, footage={"video": str(cut)})
    assert main(["extract", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "truncated or damaged video" in err[0] and not (tmp_path / "cache").exists()
