"""Feed datasets for non-image zoo entries; importing this package registers them in ``DATASETS``.

| dataset | feeds | source |
|---|---|---|
| text-topics, text-lm, text-pairs | BERT, GPT, Transformer | real text: scikit-learn's bundled dataset descriptions |
| text-sentences | Hugging Face text models (their own tokenizer) | real text: the same descriptions' prose sentences |
| spoken-digits, speech-waveforms | CTC model, WaveNet | real speech synthesized offline by espeak-ng, held-out voices |
| karate-club, communities | GCN | Zachary's karate club (real); generated community graphs |
| go-positions | AlphaGo nets | positions of games played by a rule-based random player (synthetic by rules) |
| fashion-mnist-labelled | conditional GAN discriminator | real: Fashion-MNIST images with their true labels |
| atari-frames | DQN, A3C | frames of a small Pong/Breakout-like simulator (synthetic: no Atari emulator offline) |

The user's own data files register by suffix in ``DATA_FILES`` (``--data FILE``): ``text_files`` (``.txt``,
``.jsonl``, ``.csv``: text through the model's tokenizer) and ``arrays`` (``.npz``: the model's inputs by name).
"""

from dlcompress.toolkit.sources import (  # noqa: F401  (registers datasets)
    arrays,
    atari,
    go,
    graphs,
    labelled_images,
    speech,
    text,
    text_files,
    tokenized_text,
)
