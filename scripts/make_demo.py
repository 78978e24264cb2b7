"""Builds the bundled demo under Examples/stdlib-topics/ (run by scripts/make-demo).

The task is real and labelled: which part of the Python standard library does a documented
function or class belong to? Every sample is a (qualified name, docstring) pair taken from the
standard library's own source files with `ast`, labelled by the package it comes from. A small
BERT-style encoder with three int64 inputs (input_ids, attention_mask, token_type_ids; the name
is segment 0, the docstring segment 1; padding masked with -inf) is trained on it with PyTorch
and written as ONNX with onnx.helper, so the graph has the ops exporters emit for such models.

Outputs (committed, so `octet demo` needs no Python): model.onnx, calib.npz (calibration
samples from the training split), eval.npz + eval-labels.npy (the held-out test split),
classes.txt and vocab.txt. The split is by source file, so no test docstring comes from a file
seen in training. Rerunning with the same Python version (3.11) rebuilds the same data and,
up to floating-point rounding of training on another CPU, the same model.
"""
import ast
import hashlib
import pathlib
import re
import sys
import sysconfig
from collections import Counter

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Examples" / "stdlib-topics"
SEQ, HIDDEN, HEADS, FFN, LAYERS, VOCAB = 64, 64, 4, 128, 2, 4000
EPOCHS = 20
# `--large` builds Examples/stdlib-topics-large instead: the same task and data with a wider,
# deeper encoder (hidden 128, 4 layers, FFN 512) that also outputs its sentence embedding (the
# pooled [CLS] vector) — the accuracy-target model of Benchmarks/accuracy_targets.py.
LARGE = "--large" in sys.argv[1:]
if LARGE:
    OUT = ROOT / "Examples" / "stdlib-topics-large"
    HIDDEN, HEADS, FFN, LAYERS, VOCAB, EPOCHS = 128, 4, 512, 4, 3000, 30
NAME_TOKENS = 12
PAD, CLS, SEP, UNK = 0, 1, 2, 3

# Topic -> top-level standard-library modules whose docstrings carry that label.
TOPICS = {
    "gui": ["tkinter", "turtle", "turtledemo"],
    "asyncio": ["asyncio"],
    "imports": ["importlib", "pkgutil", "zipimport", "modulefinder", "runpy"],
    "email and mail": ["email", "mailbox", "imaplib", "smtplib", "poplib", "nntplib", "mailcap"],
    "logging": ["logging"],
    "numbers": ["_pydecimal", "fractions", "numbers", "statistics", "random", "cmath", "colorsys"],
    "xml and html": ["xml", "xmlrpc", "html"],
    "concurrency": ["multiprocessing", "concurrent", "threading", "queue", "sched"],
    "testing and debugging": ["unittest", "doctest", "pdb", "bdb", "trace", "cProfile", "profile", "pstats"],
    "web": ["http", "urllib", "wsgiref", "webbrowser", "cgi", "cgitb", "ftplib", "socketserver"],
    "files and archives": ["tarfile", "zipfile", "gzip", "bz2", "lzma", "shutil", "pathlib", "tempfile",
                           "glob", "fnmatch", "filecmp", "fileinput"],
    "text and data formats": ["configparser", "csv", "json", "plistlib", "textwrap", "string", "difflib",
                              "pprint", "netrc", "shlex", "argparse", "optparse"],
}


def words(text):
    """Lower-case word tokens; identifiers split at underscores and camel case."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return re.findall(r"[a-z]+|[0-9]+|[^\sa-z0-9_]", text.lower())


def collect():
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    module_topic = {m: t for t, ms in TOPICS.items() for m in ms}
    samples = []
    for path in sorted(stdlib.rglob("*.py")):
        parts = path.relative_to(stdlib).parts
        if any(p in ("test", "tests", "idle_test", "site-packages") for p in parts):
            continue
        topic = module_topic.get(parts[0].removesuffix(".py"))
        if topic is None:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        file_key = "/".join(parts)

        def visit(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}.{child.name}" if prefix else child.name
                    doc = ast.get_docstring(child)
                    if doc and len(doc.split()) >= 3:
                        samples.append((file_key, name, " ".join(doc.split()), topic))
                    visit(child, name)
        visit(tree, "")
    return samples


def split_by_file(samples):
    """About 20 % of the source files (by a stable hash of their path) form the test split."""
    test = lambda key: int(hashlib.sha256(key.encode()).hexdigest(), 16) % 5 == 0
    return [s for s in samples if not test(s[0])], [s for s in samples if test(s[0])]


def encode(samples, vocab, classes):
    index = {w: i for i, w in enumerate(vocab)}
    n = len(samples)
    ids = np.zeros((n, SEQ), np.int64)
    mask = np.zeros((n, SEQ), np.int64)
    types = np.zeros((n, SEQ), np.int64)
    labels = np.zeros(n, np.int64)
    for row, (_, name, doc, topic) in enumerate(samples):
        a = [index.get(w, UNK) for w in words(name)][:NAME_TOKENS]
        b = [index.get(w, UNK) for w in words(doc)][:SEQ - len(a) - 3]
        tokens = [CLS] + a + [SEP] + b + [SEP]
        ids[row, :len(tokens)] = tokens
        mask[row, :len(tokens)] = 1
        types[row, len(a) + 2:len(tokens)] = 1
        labels[row] = classes.index(topic)
    return ids, mask, types, labels


class Encoder(torch.nn.Module):
    """Post-LayerNorm BERT encoder; forward() mirrors the ONNX graph that export() writes."""

    def __init__(self, classes):
        super().__init__()
        nn = torch.nn
        self.word, self.pos, self.segment = nn.Embedding(VOCAB, HIDDEN), nn.Embedding(SEQ, HIDDEN), nn.Embedding(2, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = nn.ModuleList()
        for _ in range(LAYERS):
            self.layers.append(nn.ModuleDict({
                "q": nn.Linear(HIDDEN, HIDDEN), "k": nn.Linear(HIDDEN, HIDDEN), "v": nn.Linear(HIDDEN, HIDDEN),
                "o": nn.Linear(HIDDEN, HIDDEN), "norm1": nn.LayerNorm(HIDDEN, eps=1e-12),
                "up": nn.Linear(HIDDEN, FFN), "down": nn.Linear(FFN, HIDDEN), "norm2": nn.LayerNorm(HIDDEN, eps=1e-12)}))
        self.pooler = nn.Linear(HIDDEN, HIDDEN)
        self.classifier = nn.Linear(HIDDEN, classes)
        self.dropout = nn.Dropout(0.2)

    def forward(self, ids, mask, types):
        batch, seq = ids.shape
        x = self.word(ids) + self.segment(types) + self.pos(torch.arange(seq))
        x = self.dropout(self.norm(x))
        additive = torch.where(mask.bool(), 0.0, float("-inf"))[:, None, None, :]
        d = HIDDEN // HEADS
        for layer in self.layers:
            heads = lambda t: t.view(batch, seq, HEADS, d).transpose(1, 2)
            q, k, v = heads(layer["q"](x)), heads(layer["k"](x)), heads(layer["v"](x))
            scores = q @ k.transpose(2, 3) / np.float32(np.sqrt(d)) + additive
            context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, seq, HIDDEN)
            x = layer["norm1"](x + self.dropout(layer["o"](context)))
            up = layer["up"](x)
            x = layer["norm2"](x + self.dropout(layer["down"](torch.nn.functional.gelu(up))))
        return self.classifier(torch.tanh(self.pooler(x[:, 0])))


def train(model, data, labels, epochs=EPOCHS):
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    tensors = [torch.from_numpy(a) for a in data]
    y = torch.from_numpy(labels)
    n = len(y)
    steps = epochs * ((n + 63) // 64)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    generator = torch.Generator().manual_seed(0)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, 64):
            batch = order[start:start + 64]
            loss = torch.nn.functional.cross_entropy(model(*(t[batch] for t in tensors)), y[batch], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        if epoch % 5 == 4:
            print(f"epoch {epoch + 1}: loss {total / n:.3f}")


def export(model, classes):
    """The trained weights as an opset-17 ONNX graph, the way exporters write BERT encoders."""
    nodes, inits = [], []

    def const(array, name):
        inits.append(numpy_helper.from_array(np.array(array, copy=True, order="C"), name))
        return name

    def op(op_type, inputs, name, output=None, **attrs):
        out = output or f"{name}_output"
        nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out

    p = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    i64 = lambda values: np.array(values, np.int64)
    f32 = lambda value: np.array(value, np.float32)

    def linear(x, prefix, name):
        y = op("MatMul", [x, const(p[f"{prefix}.weight"].T, f"{prefix}.weight_t")], f"{name}/MatMul")
        return op("Add", [y, const(p[f"{prefix}.bias"], f"{prefix}.bias")], f"{name}/Add")

    def norm(x, prefix, name):
        return op("LayerNormalization", [x, const(p[f"{prefix}.weight"], f"{prefix}.weight"),
                                         const(p[f"{prefix}.bias"], f"{prefix}.bias")], name, axis=-1, epsilon=1e-12)

    word = op("Gather", [const(p["word.weight"], "embeddings.word"), "input_ids"], "embeddings/word/Gather")
    types = op("Gather", [const(p["segment.weight"], "embeddings.token_type"), "token_type_ids"], "embeddings/type/Gather")
    shape = op("Shape", ["input_ids"], "embeddings/Shape")
    seq = op("Gather", [shape, const(i64(1), "const.one")], "embeddings/Gather_seq", axis=0)
    positions = op("Range", [const(i64(0), "const.zero"), seq, const(i64(1), "const.step")], "embeddings/Range")
    pos = op("Gather", [const(p["pos.weight"], "embeddings.position"), positions], "embeddings/position/Gather")
    x = op("Add", [op("Add", [word, types], "embeddings/Add"), pos], "embeddings/Add_1")
    x = norm(x, "norm", "embeddings/LayerNorm")
    keep = op("Cast", ["attention_mask"], "mask/Cast", to=TensorProto.BOOL)
    additive = op("Where", [keep, const(f32(0.0), "const.zero_f"), const(f32(-np.inf), "const.neg_inf")], "mask/Where")
    additive = op("Unsqueeze", [additive, const(i64([1, 2]), "const.axes_1_2")], "mask/Unsqueeze")
    d = HIDDEN // HEADS
    split_shape = const(i64([0, 0, HEADS, d]), "const.heads_shape")
    merge_shape = const(i64([0, 0, HIDDEN]), "const.hidden_shape")
    scale = const(f32(np.sqrt(d)), "const.sqrt_head_dim")
    half, one, root2 = const(f32(0.5), "const.half"), const(f32(1.0), "const.one_f"), const(f32(np.sqrt(2.0)), "const.sqrt2")
    for i in range(LAYERS):
        pre, at = f"layers.{i}", f"encoder/layer.{i}/attention"
        heads = {}
        for part in "qkv":
            y = linear(x, f"{pre}.{part}", f"{at}/{part}")
            y = op("Reshape", [y, split_shape], f"{at}/{part}/Reshape")
            heads[part] = op("Transpose", [y], f"{at}/{part}/Transpose", perm=[0, 2, 3, 1] if part == "k" else [0, 2, 1, 3])
        scores = op("MatMul", [heads["q"], heads["k"]], f"{at}/scores/MatMul")
        scores = op("Add", [op("Div", [scores, scale], f"{at}/scores/Div"), additive], f"{at}/scores/Add")
        probs = op("Softmax", [scores], f"{at}/Softmax", axis=-1)
        context = op("MatMul", [probs, heads["v"]], f"{at}/context/MatMul")
        context = op("Reshape", [op("Transpose", [context], f"{at}/context/Transpose", perm=[0, 2, 1, 3]), merge_shape],
                     f"{at}/context/Reshape")
        x = norm(op("Add", [x, linear(context, f"{pre}.o", f"{at}/output")], f"{at}/residual/Add"),
                 f"{pre}.norm1", f"{at}/LayerNorm")
        ff = f"encoder/layer.{i}/ffn"
        up = linear(x, f"{pre}.up", f"{ff}/up")
        erf = op("Erf", [op("Div", [up, root2], f"{ff}/gelu/Div")], f"{ff}/gelu/Erf")
        gelu = op("Mul", [op("Mul", [up, op("Add", [erf, one], f"{ff}/gelu/Add")], f"{ff}/gelu/Mul"), half], f"{ff}/gelu/Mul_1")
        x = norm(op("Add", [x, linear(gelu, f"{pre}.down", f"{ff}/down")], f"{ff}/residual/Add"),
                 f"{pre}.norm2", f"{ff}/LayerNorm")
    first = op("Gather", [x, const(i64(0), "const.cls_index")], "pooler/Gather", axis=1)
    pooled = op("Tanh", [op("Gemm", [first, const(p["pooler.weight"], "pooler.weight"), const(p["pooler.bias"], "pooler.bias")],
                            "pooler/Gemm", transB=1)], "pooler/Tanh", output="sentence_embedding" if LARGE else None)
    op("Gemm", [pooled, const(p["classifier.weight"], "classifier.weight"), const(p["classifier.bias"], "classifier.bias")],
       "classifier/Gemm", output="logits", transB=1)
    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
            for n in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(classes)])]
    if LARGE:
        outputs.append(helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", HIDDEN]))
    graph = helper.make_graph(nodes, "stdlib_topics", ints, outputs, inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="octet-demo")
    onnx_model.ir_version = 8
    onnx_model.doc_string = "Which part of the Python standard library is this docstring from? Classes: " + ", ".join(classes)
    return onnx_model


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    samples = collect()
    classes = list(TOPICS)
    train_samples, test_samples = split_by_file(samples)
    counts = Counter(w for _, name, doc, _ in train_samples for w in words(name) + words(doc))
    vocab = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"] + [w for w, c in counts.most_common(VOCAB - 4) if c >= 2]
    vocab += [f"[unused{i}]" for i in range(VOCAB - len(vocab))]
    print(f"{len(samples)} samples ({len(train_samples)} train, {len(test_samples)} test), {len(classes)} classes")
    *train_data, train_labels = encode(train_samples, vocab, classes)
    *test_data, test_labels = encode(test_samples, vocab, classes)
    model = Encoder(len(classes))
    train(model, train_data, train_labels)
    model.eval()
    with torch.no_grad():
        logits = model(*(torch.from_numpy(a) for a in test_data)).numpy()
    accuracy = float((logits.argmax(1) == test_labels).mean())
    print(f"PyTorch test accuracy {accuracy:.4f}")

    OUT.mkdir(parents=True, exist_ok=True)
    onnx_model = export(model, classes)
    onnx.checker.check_model(onnx_model, full_check=True)
    onnx.save(onnx_model, str(OUT / "model.onnx"))
    names = ("input_ids", "attention_mask", "token_type_ids")
    # Calibration: 256 training samples spread over the training split.
    pick = np.linspace(0, len(train_labels) - 1, 256).round().astype(int)
    np.savez_compressed(OUT / "calib.npz", **{n: a[pick] for n, a in zip(names, train_data)})
    np.savez_compressed(OUT / "eval.npz", **dict(zip(names, test_data)))
    np.save(OUT / "eval-labels.npy", test_labels)
    (OUT / "classes.txt").write_text("\n".join(classes) + "\n")
    (OUT / "vocab.txt").write_text("\n".join(vocab) + "\n")
    for f in sorted(OUT.iterdir()):
        print(f"wrote {f.relative_to(ROOT)} ({f.stat().st_size} bytes)")

    try:
        import onnxruntime as ort
    except ImportError:
        return
    session = ort.InferenceSession(str(OUT / "model.onnx"), providers=["CPUExecutionProvider"])
    ort_logits = session.run(["logits"], dict(zip(names, test_data)))[0]
    print(f"ONNX Runtime test accuracy {float((ort_logits.argmax(1) == test_labels).mean()):.4f}, "
          f"max |ORT - PyTorch| {np.abs(ort_logits - logits).max():.2e}")


if __name__ == "__main__":
    main()
