"""The user's own data as ``--data``: text files (.txt, .jsonl, .csv) through the real MiniLM tokenizer, arrays
(.npz) of real Fashion-MNIST images, and a flat folder of real photos; every bad input is one DatasetError."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dlcompress.toolkit.data import is_data_file, load_dataset
from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.feeds import is_feed_dataset
from dlcompress.toolkit.sources.text_files import class_indices
from dlcompress.toolkit.sources.tokenized_text import sentence_splits
from dlcompress.toolkit.spec import TensorSpec


@pytest.fixture(scope="module")
def embedder(minilm_folder):
    """MiniLM as a sentence-embedding model (its own task): its spec names its tokenizer folder."""
    from dlcompress.recipes.loading import load_model

    return load_model(str(minilm_folder)).spec


@pytest.fixture(scope="module")
def classifier(embedder):
    """The same token inputs and tokenizer, with a [batch, 3] class-score output."""
    return embedder.replace(task="text-classification", outputs=(TensorSpec("logits", ("batch", 3)),))


@pytest.fixture(scope="module")
def sentences():
    return list(sentence_splits()[0][:20])


@pytest.fixture(scope="module")
def small_cnn():
    from dlcompress.zoo import MODELS

    return MODELS.get("small_cnn")


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------
# routing


def test_files_with_a_data_suffix_go_the_feed_way(tmp_path):
    for name in ("a.txt", "b.JSONL", "c.csv", "d.npz", str(tmp_path / "e.txt")):
        assert is_data_file(name) and is_feed_dataset(name)
    (tmp_path / "images.csv").mkdir()  # a folder is an image folder whatever its name
    assert not is_data_file(str(tmp_path / "images.csv"))
    assert not is_feed_dataset("fashion-mnist") and not is_data_file("photos") and not is_data_file(str(tmp_path))


def test_a_data_file_needs_the_model(tmp_path, sentences):
    (tmp_path / "s.txt").write_text("\n".join(sentences))
    with pytest.raises(DatasetError, match="use it with --model"):
        load_dataset(str(tmp_path / "s.txt"))


def test_an_unknown_suffix_names_the_kinds_read(tmp_path):
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    with pytest.raises(DatasetError, match=r"no \.parquet data files.*\.csv, \.jsonl, \.npz, \.txt"):
        load_dataset(str(tmp_path / "data.parquet"))


# ---------------------------------------------------------------------------------------------------------
# text files


def test_txt_one_item_a_line_blank_lines_skipped(tmp_path, embedder, sentences):
    path = tmp_path / "sentences.txt"
    path.write_text("\n\n".join(sentences) + "\n\n   \n", encoding="utf-8")
    d = load_dataset(str(path), spec=embedder)
    assert d.name == "sentences.txt" and (len(d.train), len(d.test)) == (15, 5)
    assert not d.labelled and d.metric is None and d.test.labels is None
    assert "20 items of sentences.txt" in d.provenance
    seq = embedder.dims["seq"]
    for split in (d.train, d.test):
        assert set(split.arrays) == {t.name for t in embedder.inputs}
        assert all(a.shape[1:] == (seq,) and a.dtype == np.int64 for a in split.arrays.values())
    # the tokens are the tokenizer's own for those sentences (no item lost or invented), and the split is stable
    from dlcompress.toolkit.sources.tokenized_text import tokenized, tokenizer_of

    direct = tokenized(sentences, embedder, tokenizer_of(embedder)).arrays["input_ids"]
    ours = np.concatenate([d.train.arrays["input_ids"], d.test.arrays["input_ids"]])
    assert sorted(map(tuple, ours)) == sorted(map(tuple, direct))
    again = load_dataset(str(path), spec=embedder)
    assert np.array_equal(again.test.arrays["input_ids"], d.test.arrays["input_ids"])


def test_jsonl_text_column_and_string_labels(tmp_path, classifier, sentences):
    rows = [{"id": i, "text": s, "topic": ("syntax", "data", "errors")[i % 3]} for i, s in enumerate(sentences)]
    d = load_dataset(str(write_jsonl(tmp_path / "topics.jsonl", rows)), spec=classifier, label_column="topic")
    assert d.labelled and d.metric.name == "accuracy" and d.class_names == ("data", "errors", "syntax")
    assert d.num_classes == 3 and (len(d.train), len(d.test)) == (15, 5)
    assert set(np.concatenate([d.train.labels, d.test.labels])) == {0, 1, 2}
    assert "20 items of topics.jsonl" in d.provenance and "3 classes: data, errors, syntax" in d.provenance
    # the metric scores the first output against the labels
    perfect = np.eye(3)[d.test.labels]
    assert d.metric.score(perfect, d.test.labels) == 1.0


def test_csv_only_string_column_by_default_and_int_labels_sorted_numerically(tmp_path, classifier, sentences):
    rows = [[i, s, (2, 10)[i % 2]] for i, s in enumerate(sentences)]
    path = write_csv(tmp_path / "stars.csv", ["id", "review", "stars"], rows)
    d = load_dataset(str(path), spec=classifier, label_column="stars")
    assert d.class_names == ("2", "10") and d.num_classes == 2  # 2 < 10 as numbers, not as strings
    assert "column 'review'" in d.provenance
    unlabelled = load_dataset(str(path), spec=classifier)  # the labels are numbers: 'review' is the only text
    assert not unlabelled.labelled and len(unlabelled.train) + len(unlabelled.test) == 20


def test_csv_text_column_chosen(tmp_path, embedder, sentences):
    rows = [[s, sentences[-1 - i]] for i, s in enumerate(sentences)]
    path = write_csv(tmp_path / "pairs.csv", ["question", "answer"], rows)
    with pytest.raises(DatasetError, match=r"2 columns of text \(question, answer\).*--text-column"):
        load_dataset(str(path), spec=embedder)
    d = load_dataset(str(path), spec=embedder, text_column="answer")
    assert "column 'answer'" in d.provenance and len(d.train) + len(d.test) == 20


def test_class_indices():
    assert class_indices(["b", "a", "b"])[0].tolist() == [1, 0, 1]
    idx, names = class_indices([3, "3", 1.0, 7])
    assert idx.tolist() == [1, 1, 0, 2] and names == ("1", "3", "7")
    idx, names = class_indices(["cat", 2])
    assert names == ("2", "cat") and idx.tolist() == [1, 0]


# bad text input


def test_missing_and_empty_text_files(tmp_path, embedder):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(str(tmp_path / "nope.txt"), spec=embedder)
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(DatasetError, match="empty.csv is empty"):
        load_dataset(str(tmp_path / "empty.csv"), spec=embedder)
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(DatasetError, match="no rows"):
        load_dataset(str(tmp_path / "header.csv"), spec=embedder)
    (tmp_path / "one.txt").write_text("Only one sentence is here.\n\n")
    with pytest.raises(DatasetError, match="1 text item; at least 2"):
        load_dataset(str(tmp_path / "one.txt"), spec=embedder)


def test_a_missing_column_says_which_exist(tmp_path, classifier, sentences):
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [[s, "x"] for s in sentences])
    with pytest.raises(DatasetError, match=r"no column 'body'; its columns: text, label"):
        load_dataset(str(path), spec=classifier, text_column="body")
    with pytest.raises(DatasetError, match=r"no column 'class'; its columns: text, label"):
        load_dataset(str(path), spec=classifier, label_column="class")
    with pytest.raises(DatasetError, match="both name 'text'"):
        load_dataset(str(path), spec=classifier, text_column="text", label_column="text")
    numbers = write_csv(tmp_path / "n.csv", ["a", "b"], [[1, 2], [3, 4]])
    with pytest.raises(DatasetError, match="no column of text; its columns: a, b"):
        load_dataset(str(numbers), spec=classifier)


def test_columns_on_a_txt_file_are_refused(tmp_path, embedder, sentences):
    (tmp_path / "s.txt").write_text("\n".join(sentences))
    with pytest.raises(DatasetError, match="--text-column names a column of a .csv or .jsonl file"):
        load_dataset(str(tmp_path / "s.txt"), spec=embedder, text_column="text")


def test_labels_must_all_be_present(tmp_path, classifier, sentences):
    rows = [[s, "" if i == 7 else "a"] for i, s in enumerate(sentences)]
    with pytest.raises(DatasetError, match=r"1 of 20 items of gaps.csv have no 'label' label \(the first: item 8\)"):
        load_dataset(str(write_csv(tmp_path / "gaps.csv", ["text", "label"], rows)), spec=classifier,
                     label_column="label")
    jrows = [{"text": s, **({} if i in (3, 4) else {"label": "a"})} for i, s in enumerate(sentences)]
    with pytest.raises(DatasetError, match="2 of 20 items"):
        load_dataset(str(write_jsonl(tmp_path / "gaps.jsonl", jrows)), spec=classifier, label_column="label")


def test_bad_jsonl_lines(tmp_path, embedder):
    (tmp_path / "a.jsonl").write_text('{"text": "A fine line of text."}\nnot json\n')
    with pytest.raises(DatasetError, match="line 2 is not JSON"):
        load_dataset(str(tmp_path / "a.jsonl"), spec=embedder)
    (tmp_path / "b.jsonl").write_text('["a list"]\n')
    with pytest.raises(DatasetError, match="line 1 is a JSON list, not an object"):
        load_dataset(str(tmp_path / "b.jsonl"), spec=embedder)


def test_labels_need_a_classifier(tmp_path, embedder, classifier, sentences):
    rows = [[s, str(i % 4)] for i, s in enumerate(sentences)]
    path = write_csv(tmp_path / "l.csv", ["text", "label"], rows)
    with pytest.raises(DatasetError, match=r"sentence_embedding\[batch,384\]:float32 \(a sentence-embedding\).*drop "
                                           "--label-column"):
        load_dataset(str(path), spec=embedder, label_column="label")
    with pytest.raises(DatasetError, match="4 label classes but .* scores 3"):
        load_dataset(str(path), spec=classifier, label_column="label")


def test_text_for_an_image_model_says_to_use_images(tmp_path, small_cnn, sentences):
    (tmp_path / "s.txt").write_text("\n".join(sentences))
    with pytest.raises(DatasetError, match=r"s.txt is text but small_cnn takes images .*folder of images"):
        load_dataset(str(tmp_path / "s.txt"), spec=small_cnn)


# ---------------------------------------------------------------------------------------------------------
# arrays


@pytest.fixture(scope="module")
def fashion():
    """40 real Fashion-MNIST test images as float64 NCHW in [0, 1] and their int32 labels."""
    d = load_dataset("fashion-mnist")
    x = (d.test.batch(range(40)).astype(np.float64) / 255.0).transpose(0, 3, 1, 2)
    return x, d.test.labels[:40].astype(np.int32)


def test_npz_inputs_by_name_cast_and_labelled(tmp_path, small_cnn, fashion):
    x, y = fashion
    np.savez(tmp_path / "fm.npz", input=x, labels=y)
    d = load_dataset(str(tmp_path / "fm.npz"), spec=small_cnn)
    assert d.name == "fm.npz" and (len(d.train), len(d.test)) == (30, 10)
    assert d.train.arrays["input"].dtype == np.float32 and d.test.labels.dtype == np.int64
    assert d.labelled and d.metric.name == "accuracy" and d.num_classes == int(y.max()) + 1
    assert "40 items of fm.npz" in d.provenance
    # the items keep their labels through the split
    both = np.concatenate([d.train.arrays["input"], d.test.arrays["input"]])
    labels = np.concatenate([d.train.labels, d.test.labels])
    for img, lab in zip(both[:5], labels[:5]):
        i = int(np.flatnonzero(np.all(np.isclose(x.astype(np.float32), img), axis=(1, 2, 3)))[0])
        assert y[i] == lab
    np.savez(tmp_path / "nolabels.npz", input=x)
    assert not load_dataset(str(tmp_path / "nolabels.npz"), spec=small_cnn).labelled


def test_npz_int32_tokens_become_int64_and_label_column_names_the_array(tmp_path, classifier, embedder, sentences):
    from dlcompress.toolkit.sources.tokenized_text import tokenized, tokenizer_of

    arrays = tokenized(sentences, embedder, tokenizer_of(embedder)).arrays
    np.savez(tmp_path / "tok.npz", **{k: v.astype(np.int32) for k, v in arrays.items()},
             y=np.arange(20) % 3)
    d = load_dataset(str(tmp_path / "tok.npz"), spec=classifier, label_column="y")
    assert all(a.dtype == np.int64 for a in d.train.arrays.values()) and d.labelled


def test_npz_that_does_not_fit_lists_the_inputs(tmp_path, small_cnn, fashion):
    x, y = fashion
    np.savez(tmp_path / "wrong.npz", image=x, labels=y)
    with pytest.raises(DatasetError, match=r"wrong.npz holds image\[40, 1, 28, 28\]:float64 \(no array input; no input "
                                           r"image\) but small_cnn takes \(input\[batch,1,28,28\]:float32\)"):
        load_dataset(str(tmp_path / "wrong.npz"), spec=small_cnn)
    np.savez(tmp_path / "shape.npz", input=x[:, :, :14])
    with pytest.raises(DatasetError, match=r"does not fit small_cnn: input is \[30, 1, 14, 28\]:float32.*small_cnn "
                                           r"takes \(input"):
        load_dataset(str(tmp_path / "shape.npz"), spec=small_cnn)
    np.savez(tmp_path / "bytes.npz", input=(x * 255).astype(np.uint8))  # not cast: the values would mean another thing
    with pytest.raises(DatasetError, match=r"uint8, the model takes input\[batch,1,28,28\]:float32"):
        load_dataset(str(tmp_path / "bytes.npz"), spec=small_cnn)


def test_bad_npz_files(tmp_path, small_cnn, fashion):
    x, y = fashion
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(str(tmp_path / "none.npz"), spec=small_cnn)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_dataset(str(tmp_path / "junk.npz"), spec=small_cnn)
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(DatasetError, match="empty"):
        load_dataset(str(tmp_path / "empty.npz"), spec=small_cnn)
    np.savez(tmp_path / "len.npz", input=x, labels=y[:10])
    with pytest.raises(DatasetError, match="differ in length"):
        load_dataset(str(tmp_path / "len.npz"), spec=small_cnn)
    np.savez(tmp_path / "float_labels.npz", input=x, labels=y.astype(np.float32))
    with pytest.raises(DatasetError, match="class labels are integers"):
        load_dataset(str(tmp_path / "float_labels.npz"), spec=small_cnn)
    np.savez(tmp_path / "one.npz", input=x[:1])
    with pytest.raises(DatasetError, match="1 item; at least 2"):
        load_dataset(str(tmp_path / "one.npz"), spec=small_cnn)
    np.savez(tmp_path / "ok.npz", input=x)
    with pytest.raises(DatasetError, match="no array 'y'; its arrays: input"):
        load_dataset(str(tmp_path / "ok.npz"), spec=small_cnn, label_column="y")


# ---------------------------------------------------------------------------------------------------------
# a flat folder of images


def _photos(folder, names=("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"), crops=2):
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        img = getattr(skimage.data, name)()
        for k in range(crops):
            Image.fromarray(img[k * 40 : k * 40 + 96, k * 50 : k * 50 + 120]).save(folder / f"{name}-{k}.png")
    return folder


def test_flat_image_folder_is_unlabelled_and_split_80_20(tmp_path):
    folder = _photos(tmp_path / "shots")
    (folder / "notes.txt").write_text("not an image")
    d = load_dataset(str(folder))
    assert d.name == "shots" and not d.labelled and d.num_classes is None and d.class_names is None
    assert (len(d.train), len(d.test)) == (8, 2) and d.train.labels is None
    assert d.train[0].shape == (96, 120, 3) and d.train[0].std() > 10  # real photos
    again = load_dataset(str(folder))
    assert np.array_equal(again.test[0], d.test[0])


def test_a_folder_with_class_subfolders_is_still_an_image_folder(tmp_path):
    _photos(tmp_path / "root" / "people", ("astronaut",))
    _photos(tmp_path / "root" / "cats", ("chelsea",))
    d = load_dataset(str(tmp_path / "root"))
    assert d.labelled and d.class_names == ("cats", "people") and len(d.train) + len(d.test) == 4


def test_too_few_or_no_images(tmp_path):
    _photos(tmp_path / "one", ("coffee",), crops=1)
    with pytest.raises(DatasetError, match="holds 1 image; at least 2"):
        load_dataset(str(tmp_path / "one"))
    (tmp_path / "none").mkdir()
    with pytest.raises(DatasetError, match="no images and no class subfolders"):
        load_dataset(str(tmp_path / "none"))
