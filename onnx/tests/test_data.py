"""Dataset loaders: .npz, image folders (labels from sub-folders), CIFAR-10 pickle directories."""
import pickle

import numpy as np
from PIL import Image

from dinof_train.data import load_dataset


def test_npz(toy_npz):
    x, y, _ = load_dataset(str(toy_npz))
    assert x.shape == (64, 1, 8, 8) and x.dtype.is_floating_point and 0 <= x.min() and x.max() <= 1
    assert y.shape == (64,) and int(y.max()) == 3


def test_image_folder(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for k in range(2):
            Image.fromarray((np.random.rand(10, 10, 3) * 255).astype(np.uint8)).save(tmp_path / cls / f"{k}.png")
    x, y, _ = load_dataset(str(tmp_path), resolution=8, channels=3)
    assert x.shape == (4, 3, 8, 8) and sorted(y.tolist()) == [0, 0, 1, 1]
    x, _, _ = load_dataset(str(tmp_path), resolution=8, channels=1)
    assert x.shape == (4, 1, 8, 8)


def test_cifar_pickle_dir(tmp_path):
    data = (np.arange(2 * 3072) % 256).astype(np.uint8).reshape(2, 3072)
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": data, b"labels": [3, 7]}, f)
    x, y, _ = load_dataset(str(tmp_path))
    assert x.shape == (2, 3, 32, 32) and y.tolist() == [3, 7]
    # float32(1/255) is within 2.4e-10 of 1/255; 1e-6 still tells /255 from /256 (1.5e-5 away)
    assert abs(float(x[0, 0, 0, 1]) - 1 / 255) < 1e-6
