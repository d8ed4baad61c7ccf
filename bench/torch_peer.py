"""PyTorch peer for `loupe bench training`.

The same network as Loupe's ResNet-18-style classifier (src/train/models/resnet.rs:
stride-2 3x3 stem, four stages of two basic blocks at widths w, 2w, 4w, 8w,
GroupNorm with the largest group count <= 8 that divides the channels,
global average pooling, dropout, linear), the same on-device augmentation
(flip, rotation +-10 deg, translation 2 %, brightness/contrast jitter,
Gaussian noise), cross-entropy and Adam: one training step on a batch,
timed. `--method supervised` reads a whole labeled batch; `--method
mean-teacher` is Loupe's mean teacher + SRC step (src/train/methods/
mean_teacher.rs): a quarter of the batch labeled, the student and an EMA
teacher each on their own augmentation, cross-entropy on the labeled rows,
softmax consistency and relation (row-normalised Gram matrix) consistency,
Adam, then the EMA update. `--network i3d` is Loupe's 3-D CT teacher
(src/train/models/volume3d.rs; its volume's slices are augmented as an
image's channels, as Loupe's are); `--network unet2d|unet3d` the U-Nets
(src/train/models/unet.rs) with `--method segmentation`: class-weighted
cross-entropy plus the Dice loss, Adam with weight decay 1e-5, no
augmentation. Prints one JSON object. Loupe runs it with `python3 -`.
"""

import copy

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def norm(channels):
    groups = next(g for g in range(8, 0, -1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = norm(cout)
        self.projection = None
        if stride != 1 or cin != cout:
            self.projection = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm(cout))

    def forward(self, x):
        shortcut = x if self.projection is None else self.projection(x)
        y = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(y)) + shortcut)


class ResNet(nn.Module):
    def __init__(self, classes, width, dropout):
        super().__init__()
        w = width
        self.stem = nn.Conv2d(3, w, 3, 2, 1, bias=False)
        self.stem_norm = norm(w)
        blocks, channels = [], w
        for stage, out in enumerate([w, 2 * w, 4 * w, 8 * w]):
            blocks += [BasicBlock(channels, out, 1 if stage == 0 else 2), BasicBlock(out, out, 1)]
            channels = out
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem_norm(self.stem(x))))
        features = x.mean(dim=(2, 3))
        return self.classifier(self.dropout(features)), features


class Block3d(nn.Module):
    """Loupe's 3-D teacher block (src/train/models/volume3d.rs): two 3x3x3
    convolutions, the first strided, with a projected shortcut."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, 2, 1, bias=False)
        self.norm1 = norm(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = norm(cout)
        self.projection = nn.Conv3d(cin, cout, 1, 2, bias=False)
        self.projection_norm = norm(cout)

    def forward(self, x):
        shortcut = self.projection_norm(self.projection(x))
        y = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(y)) + shortcut)


class Volume3d(nn.Module):
    """Loupe's `i3d`: stride-2 3x3x3 stem, two blocks at 2w and 4w, the
    feature map's mean, dropout, linear."""

    def __init__(self, classes, width, dropout):
        super().__init__()
        w = width
        self.stem = nn.Conv3d(1, w, 3, 2, 1, bias=False)
        self.stem_norm = norm(w)
        self.blocks = nn.Sequential(Block3d(w, 2 * w), Block3d(2 * w, 4 * w))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(4 * w, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem_norm(self.stem(x.unsqueeze(1)))))
        features = x.flatten(2).mean(2)
        return self.classifier(self.dropout(features)), features


class UnetBlock(nn.Module):
    def __init__(self, conv, cin, cout):
        super().__init__()
        self.conv1 = conv(cin, cout, 3, 1, 1, bias=False)
        self.norm1 = norm(cout)
        self.conv2 = conv(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = norm(cout)

    def forward(self, x):
        x = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(x)))


class Unet(nn.Module):
    """Loupe's U-Net (src/train/models/unet.rs), 2-D or 3-D: four levels of
    widths w..8w, two normalised 3x3(x3) convolutions a level, stride-2
    convolutions down, stride-2 transposed convolutions up, skips by
    concatenation, a 1x1 head."""

    def __init__(self, dims, channels, classes, width):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        up = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
        widths = [width << level for level in range(4)]
        self.encoders = nn.ModuleList([UnetBlock(conv, channels, width)])
        self.downs = nn.ModuleList()
        for level in range(1, 4):
            self.downs.append(conv(widths[level - 1], widths[level - 1], 3, 2, 1, bias=False))
            self.encoders.append(UnetBlock(conv, widths[level - 1], widths[level]))
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(3)):
            self.ups.append(up(widths[level + 1], widths[level], 2, 2))
            self.decoders.append(UnetBlock(conv, 2 * widths[level], widths[level]))
        self.head = conv(width, classes, 1)

    def forward(self, x):
        skips = []
        x = self.encoders[0](x)
        for down, encoder in zip(self.downs, self.encoders[1:]):
            skips.append(x)
            x = encoder(down(x))
        for up, decoder in zip(self.ups, self.decoders):
            x = decoder(torch.cat([up(x), skips.pop()], 1))
        return self.head(x), x


def segmentation_loss(logits, onehot):
    """Loupe's L_seg (src/train/segmentation/losses.rs): cross-entropy
    weighted per class by 1 - n_c/N over the batch, plus the Dice loss."""
    batch, classes = logits.shape[:2]
    logits = logits.flatten(2)
    onehot = onehot.flatten(2)
    weights = 1 - onehot.sum(dim=(0, 2), keepdim=True) / (batch * logits.shape[2])
    voxel_weights = (onehot * weights).sum(1)
    voxel_ce = -(logits.log_softmax(1) * onehot).sum(1)
    ce = (voxel_ce * voxel_weights).sum() / voxel_weights.sum().clamp_min(1e-12)
    p = logits.softmax(1)
    intersection = (p * onehot).sum(dim=(0, 2))
    denominator = onehot.pow(2).sum(dim=(0, 2)) + p.pow(2).sum(dim=(0, 2))
    dice = (2 * intersection + 1e-5) / (denominator + 1e-5)
    return ce + (1 - dice.mean())


def augment(images):
    b = images.shape[0]
    dev = images.device
    flip = (torch.rand(b, 1, 1, 1, device=dev) < 0.5).float()
    images = images.flip(3) * flip + images * (1 - flip)
    angle = (torch.rand(b, device=dev) * 2 - 1) * math.radians(10)
    shift = (torch.rand(b, 2, device=dev) * 2 - 1) * 0.04
    theta = torch.stack(
        [
            torch.stack([angle.cos(), -angle.sin(), shift[:, 0]], 1),
            torch.stack([angle.sin(), angle.cos(), shift[:, 1]], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, images.shape, align_corners=False)
    images = F.grid_sample(images, grid, padding_mode="border", align_corners=False)
    contrast = torch.empty(b, 1, 1, 1, device=dev).uniform_(0.85, 1.15)
    brightness = torch.empty(b, 1, 1, 1, device=dev).uniform_(-0.1, 0.1)
    return images * contrast + brightness + torch.randn_like(images) * 0.03


# torch.profiler's op names, grouped as `loupe bench profile` reports them.
OP_KINDS = [
    ("convolution forward", ["aten::mkldnn_convolution", "aten::_convolution", "aten::thnn_conv2d", "aten::_slow_conv2d_forward", "aten::slow_conv3d_forward"]),
    ("transposed convolution forward", ["aten::slow_conv_transpose2d", "aten::slow_conv_transpose3d"]),
    ("convolution backward", ["aten::convolution_backward"]),
    ("group norm forward", ["aten::native_group_norm"]),
    ("group norm backward", ["aten::native_group_norm_backward"]),
    ("ReLU / residual sum, fwd + bwd", ["aten::relu", "aten::threshold_backward", "aten::add"]),
    ("augmentation (grid sample)", ["aten::grid_sampler_2d", "aten::affine_grid_generator"]),
    ("softmax / log-softmax, fwd + bwd", ["aten::_softmax", "aten::_log_softmax", "aten::_softmax_backward_data", "aten::_log_softmax_backward_data"]),
    ("concatenation", ["aten::cat"]),
    ("Adam update", ["Optimizer.step#Adam.step"]),
]


def profile_ops(step, steps):
    """Milliseconds per step of each op kind (self CPU time, not nested)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    totals = {}
    for event in prof.key_averages():
        for kind, names in OP_KINDS:
            if event.key in names:
                # Adam's step is a user annotation: its own time is its children's.
                time_us = event.cpu_time_total if kind == "Adam update" else event.self_cpu_time_total
                totals[kind] = totals.get(kind, 0.0) + time_us / 1000.0 / steps
    return totals


def resident_mib():
    """Resident memory now and its peak (VmRSS, VmHWM), MiB; None off Linux."""
    try:
        with open("/proc/self/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        kib = lambda name: float(fields[name].split()[0])
        return kib("VmRSS") / 1024.0, kib("VmHWM") / 1024.0
    except (OSError, KeyError, ValueError):
        return None


def reset_peak_resident():
    """Hands free heap back (glibc) and resets the peak; resident memory now."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return None
    return resident_mib()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input-size", type=int, default=128)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--method", choices=["supervised", "mean-teacher", "segmentation"], default="supervised")
    parser.add_argument("--network", choices=["resnet18", "i3d", "unet2d", "unet3d"], default="resnet18")
    parser.add_argument("--channels", type=int, default=3, help="input channels (a volume's depth for i3d)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also time the step's ops by kind with torch.profiler (the rows of `loupe bench profile`)",
    )
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    device = torch.device(args.device)
    size = args.input_size
    if args.network == "resnet18":
        model = ResNet(4, args.width, 0.2)
        shape = (args.batch, 3, size, size)
    elif args.network == "i3d":
        model = Volume3d(4, args.width, 0.2)
        shape = (args.batch, args.channels, size, size)
    else:
        dims = 2 if args.network == "unet2d" else 3
        model = Unet(dims, args.channels, 4, args.width)
        shape = (args.batch, args.channels) + (size,) * dims
    model = model.to(device)
    # The segmentation methods' Adam decays weights by 1e-5 (Loupe's default).
    decay = 1e-5 if args.method == "segmentation" else 0.0
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, weight_decay=decay)
    images = torch.rand(*shape, device=device) * 2 - 1
    labels = torch.randint(0, 4, (args.batch,), device=device)
    if args.method == "segmentation":
        voxel_classes = torch.randint(0, 4, (args.batch,) + shape[2:], device=device)
        onehot = F.one_hot(voxel_classes, 4).movedim(-1, 1).float()

    teacher = copy.deepcopy(model)
    for p in teacher.parameters():
        p.requires_grad_(False)
    labeled = max(args.batch // 4, 1)

    def relation(features):
        gram = features @ features.t()
        return gram / gram.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def supervised_step():
        logits, _ = model(augment(images))
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()  # waits for the device, as Loupe's step does

    def mean_teacher_step():
        batch = images.shape[0]
        student_logits, student_features = model(augment(images))
        with torch.no_grad():
            teacher_logits, teacher_features = teacher(augment(images))
        ce = F.cross_entropy(student_logits[:labeled], labels[:labeled])
        consistency = (student_logits.softmax(1) - teacher_logits.softmax(1)).pow(2).sum() / batch
        src = (relation(student_features) - relation(teacher_features)).pow(2).sum() / batch
        loss = ce + consistency + src
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for t, s in zip(teacher.parameters(), model.parameters()):
                t.mul_(0.99).add_(s, alpha=0.01)
        return loss.item()

    def segmentation_step():
        logits, _ = model(images)
        loss = segmentation_loss(logits, onehot)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    step = {
        "supervised": supervised_step,
        "mean-teacher": mean_teacher_step,
        "segmentation": segmentation_step,
    }[args.method]

    # Resident memory as `loupe bench training` measures it: free heap handed
    # back, the peak reset (Linux), then the steps' peak and what they add.
    before = reset_peak_resident()
    for _ in range(2):
        step()
    seconds = []
    for _ in range(args.steps):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    peak = resident_mib()[1] if before is not None else None
    ops = profile_ops(step, args.steps) if args.profile else None
    print(
        json.dumps(
            {
                "ops_ms": ops,
                "torch": torch.__version__,
                "device": str(device),
                "method": args.method,
                "network": args.network,
                "threads": torch.get_num_threads(),
                "median_step_seconds": median,
                "images_per_second": args.batch / median,
                "peak_resident_mib": peak,
                "steps_resident_mib": peak - before[0] if peak is not None else None,
            }
        )
    )


if __name__ == "__main__":
    main()
