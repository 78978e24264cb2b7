"""Builds Examples/digits-cnn/ (run by scripts/make-trained-examples): a trained CNN on real data.

The data are the 1,797 handwritten digits (8×8 grey levels 0–16, scanned from 43 writers) that
scikit-learn ships as `load_digits` (the UCI "Optical Recognition of Handwritten Digits" test
set). The last 40 % of the file is held out for evaluation (719 images); the first 60 % train a small
ResNet-style CNN with PyTorch (stem conv, two residual blocks, a strided conv, global average
pooling, a classifier), trained with one-pixel shifts as augmentation.

The ONNX graph is written with onnx.helper the way older exporters wrote CNNs: opset 12, every
weight in a `Constant` node, BatchNormalization kept as its own node after each Conv.

Outputs (committed, so tests need no Python training stack): model.onnx, calib.npz (256 training
images), eval.npz + eval-labels.npy (the held-out images and their digits).
"""
import pathlib

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Examples" / "digits-cnn"
WIDTH = 32


def data():
    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0)[:, None]
    labels = digits.target.astype(np.int64)
    cut = len(labels) * 3 // 5  # the first 60 % train; the rest, other scans, are held out
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        nn = torch.nn

        def unit(cin, cout, stride=1):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))

        self.stem = unit(1, WIDTH)
        self.block1 = nn.ModuleList([unit(WIDTH, WIDTH), unit(WIDTH, WIDTH)])
        self.down = unit(WIDTH, 2 * WIDTH, stride=2)
        self.block2 = nn.ModuleList([unit(2 * WIDTH, 2 * WIDTH), unit(2 * WIDTH, 2 * WIDTH)])
        self.fc = nn.Linear(2 * WIDTH, 10)

    def forward(self, x):
        relu = torch.relu
        x = relu(self.stem(x))
        x = relu(x + self.block1[1](relu(self.block1[0](x))))
        x = relu(self.down(x))
        x = relu(x + self.block2[1](relu(self.block2[0](x))))
        return self.fc(x.mean((2, 3)))


def shift(batch, generator):
    """Each image moved by up to one pixel in each direction (zeros come in)."""
    out = torch.zeros_like(batch)
    for i in range(len(batch)):
        dy, dx = (torch.randint(-1, 2, (2,), generator=generator)).tolist()
        src = batch[i, :, max(0, -dy):8 - max(0, dy), max(0, -dx):8 - max(0, dx)]
        out[i, :, max(0, dy):max(0, dy) + src.shape[1], max(0, dx):max(0, dx) + src.shape[2]] = src
    return out


def train(model, images, labels, epochs=40):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    steps = epochs * ((len(y) + 63) // 64)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for start in range(0, len(y), 64):
            batch = order[start:start + 64]
            loss = torch.nn.functional.cross_entropy(model(shift(x[batch], generator)), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        if epoch % 10 == 9:
            print(f"epoch {epoch + 1}: loss {total / len(y):.4f}")


def export(model):
    """Opset 12, weights in Constant nodes, BatchNormalization after every Conv."""
    nodes = []
    p = {k: v.detach().numpy() for k, v in model.state_dict().items()}

    def const(array, name):
        tensor = numpy_helper.from_array(np.array(array, np.float32 if array.dtype.kind == "f" else array.dtype), name)
        nodes.append(helper.make_node("Constant", [], [name], name=f"{name}/Constant", value=tensor))
        return name

    def op(op_type, inputs, name, output=None, **attrs):
        out = output or f"{name}_output"
        nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out

    def unit(x, prefix, name, stride=1):
        y = op("Conv", [x, const(p[f"{prefix}.0.weight"], f"{prefix}.conv.weight")], f"{name}/Conv",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride])
        bn = [const(p[f"{prefix}.1.{k}"], f"{prefix}.bn.{k}") for k in ("weight", "bias", "running_mean", "running_var")]
        return op("BatchNormalization", [y, *bn], f"{name}/BatchNormalization", epsilon=1e-5)

    x = op("Relu", [unit("image", "stem", "stem")], "stem/Relu")
    for block, down in (("block1", None), ("block2", "down")):
        if down:
            x = op("Relu", [unit(x, down, down, stride=2)], f"{down}/Relu")
        y = op("Relu", [unit(x, f"{block}.0", f"{block}/conv1")], f"{block}/conv1/Relu")
        y = unit(y, f"{block}.1", f"{block}/conv2")
        x = op("Relu", [op("Add", [x, y], f"{block}/Add")], f"{block}/Relu")
    pooled = op("Flatten", [op("GlobalAveragePool", [x], "pool/GlobalAveragePool")], "pool/Flatten", axis=1)
    op("Gemm", [pooled, const(p["fc.weight"], "fc.weight"), const(p["fc.bias"], "fc.bias")], "fc/Gemm", output="logits", transB=1)
    graph = helper.make_graph(
        nodes, "digits_cnn", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])])
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], producer_name="octet-examples")
    onnx_model.ir_version = 7
    onnx_model.doc_string = "Handwritten digit (scikit-learn's load_digits, 8x8, values 0-1) -> logits of 0-9"
    return onnx_model


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    train_x, train_y, test_x, test_y = data()
    print(f"{len(train_y)} training images, {len(test_y)} held out")
    model = Net()
    train(model, train_x, train_y)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(test_x)).numpy()
    print(f"PyTorch test accuracy {float((logits.argmax(1) == test_y).mean()):.4f}")

    OUT.mkdir(parents=True, exist_ok=True)
    onnx_model = export(model)
    onnx.checker.check_model(onnx_model, full_check=True)
    onnx.save(onnx_model, str(OUT / "model.onnx"))
    pick = np.linspace(0, len(train_y) - 1, 256).round().astype(int)
    np.savez_compressed(OUT / "calib.npz", image=train_x[pick])
    np.savez_compressed(OUT / "eval.npz", image=test_x)
    np.save(OUT / "eval-labels.npy", test_y)
    for f in sorted(OUT.iterdir()):
        print(f"wrote {f.relative_to(ROOT)} ({f.stat().st_size} bytes)")

    import onnxruntime as ort
    ort_logits = ort.InferenceSession(str(OUT / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, {"image": test_x})[0]
    print(f"ONNX Runtime test accuracy {float((ort_logits.argmax(1) == test_y).mean()):.4f}, "
          f"max |ORT - PyTorch| {np.abs(ort_logits - logits).max():.2e}")


if __name__ == "__main__":
    main()
