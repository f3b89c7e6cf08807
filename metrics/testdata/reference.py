"""Reference values for cyclepix's metrics tests.

The Go tests run this with Debian's /usr/bin/python3 (python3-skimage,
python3-scipy, python3-torch, python3-pil) and skip when a module is
missing. Usage: reference.py JOB.json; prints a JSON result on stdout.

Each job is computed the way the reference tools do it:
  paired     scikit-image's structural_similarity (Wang et al. settings) and
             peak_signal_noise_ratio on uint8 images
  fid        pytorch-fid's recipe: np.cov, scipy.linalg.sqrtm of the product,
             retried with 1e-6 on the diagonals if not finite, real part
  kid        the unbiased cubic-kernel MMD over whole sets
  resize     clean-fid's resize: Pillow mode F bicubic per channel, clip
  inception  the FID Inception-v3 architecture, written here in plain
             PyTorch (no torchvision), run on given weights and inputs
"""
import json
import sys

import numpy as np


def paired(job):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    out = []
    for p in job["pairs"]:
        shape = (p["h"], p["w"], p["c"])
        a = np.fromfile(p["real"], dtype=np.uint8).reshape(shape)
        b = np.fromfile(p["fake"], dtype=np.uint8).reshape(shape)
        if p["c"] == 1:
            a, b, axis = a[:, :, 0], b[:, :, 0], None
        else:
            axis = 2
        ssim = structural_similarity(a, b, data_range=255, channel_axis=axis, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
        psnr = peak_signal_noise_ratio(a, b, data_range=255)
        l1 = np.abs(a.astype(np.float64) - b.astype(np.float64)).mean() / 255
        out.append({"ssim": float(ssim), "psnr": float(psnr), "l1": float(l1)})
    return out


def features(path, n, d):
    return np.fromfile(path, dtype="<f8").reshape(n, d)


def fid(job):
    from scipy import linalg

    x = features(job["real"], job["n_real"], job["d"])
    y = features(job["fake"], job["n_fake"], job["d"])
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        eye = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + eye).dot(s2 + eye))
    covmean = covmean.real
    diff = mu1 - mu2
    return {"fid": float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))}


def kid(job):
    x = features(job["real"], job["n_real"], job["d"])
    y = features(job["fake"], job["n_fake"], job["d"])
    m, d = x.shape

    def k(a, b):
        return (a @ b.T / d + 1) ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    within = kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)
    return {"kid": float(within / (m * (m - 1)) - 2 * kxy.sum() / (m * m))}


def resize(job):
    from PIL import Image

    h, w, size = job["h"], job["w"], job["size"]
    img = np.fromfile(job["image"], dtype=np.uint8).reshape(h, w, 3)
    chans = []
    for c in range(3):
        f = Image.fromarray(img[:, :, c].astype(np.float32), mode="F")
        f = f.resize((size, size), resample=Image.BICUBIC)
        chans.append(np.asarray(f).clip(0, 255))
    x = np.stack(chans, axis=0).astype(np.float32) / 255 * 2 - 1
    x.astype("<f4").tofile(job["out"])
    return {"shape": list(x.shape)}


def inception(job):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Basic(nn.Module):
        def __init__(self, cin, cout, k, stride=1, pad=0):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False)
            self.bn = nn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)))

    def tf_avg(x):
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)

    class A(nn.Module):
        def __init__(self, cin, pool):
            super().__init__()
            self.branch1x1 = Basic(cin, 64, 1)
            self.branch5x5_1 = Basic(cin, 48, 1)
            self.branch5x5_2 = Basic(48, 64, 5, pad=2)
            self.branch3x3dbl_1 = Basic(cin, 64, 1)
            self.branch3x3dbl_2 = Basic(64, 96, 3, pad=1)
            self.branch3x3dbl_3 = Basic(96, 96, 3, pad=1)
            self.branch_pool = Basic(cin, pool, 1)

        def forward(self, x):
            return torch.cat([
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(tf_avg(x)),
            ], 1)

    class B(nn.Module):
        def __init__(self, cin):
            super().__init__()
            self.branch3x3 = Basic(cin, 384, 3, stride=2)
            self.branch3x3dbl_1 = Basic(cin, 64, 1)
            self.branch3x3dbl_2 = Basic(64, 96, 3, pad=1)
            self.branch3x3dbl_3 = Basic(96, 96, 3, stride=2)

        def forward(self, x):
            return torch.cat([
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, 3, stride=2),
            ], 1)

    class C(nn.Module):
        def __init__(self, cin, c7):
            super().__init__()
            self.branch1x1 = Basic(cin, 192, 1)
            self.branch7x7_1 = Basic(cin, c7, 1)
            self.branch7x7_2 = Basic(c7, c7, (1, 7), pad=(0, 3))
            self.branch7x7_3 = Basic(c7, 192, (7, 1), pad=(3, 0))
            self.branch7x7dbl_1 = Basic(cin, c7, 1)
            self.branch7x7dbl_2 = Basic(c7, c7, (7, 1), pad=(3, 0))
            self.branch7x7dbl_3 = Basic(c7, c7, (1, 7), pad=(0, 3))
            self.branch7x7dbl_4 = Basic(c7, c7, (7, 1), pad=(3, 0))
            self.branch7x7dbl_5 = Basic(c7, 192, (1, 7), pad=(0, 3))
            self.branch_pool = Basic(cin, 192, 1)

        def forward(self, x):
            b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
            bd = x
            for i in range(1, 6):
                bd = getattr(self, "branch7x7dbl_%d" % i)(bd)
            return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(tf_avg(x))], 1)

    class D(nn.Module):
        def __init__(self, cin):
            super().__init__()
            self.branch3x3_1 = Basic(cin, 192, 1)
            self.branch3x3_2 = Basic(192, 320, 3, stride=2)
            self.branch7x7x3_1 = Basic(cin, 192, 1)
            self.branch7x7x3_2 = Basic(192, 192, (1, 7), pad=(0, 3))
            self.branch7x7x3_3 = Basic(192, 192, (7, 1), pad=(3, 0))
            self.branch7x7x3_4 = Basic(192, 192, 3, stride=2)

        def forward(self, x):
            b3 = self.branch3x3_2(self.branch3x3_1(x))
            b7 = x
            for i in range(1, 5):
                b7 = getattr(self, "branch7x7x3_%d" % i)(b7)
            return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)

    class E(nn.Module):
        def __init__(self, cin, max_pool):
            super().__init__()
            self.max_pool = max_pool
            self.branch1x1 = Basic(cin, 320, 1)
            self.branch3x3_1 = Basic(cin, 384, 1)
            self.branch3x3_2a = Basic(384, 384, (1, 3), pad=(0, 1))
            self.branch3x3_2b = Basic(384, 384, (3, 1), pad=(1, 0))
            self.branch3x3dbl_1 = Basic(cin, 448, 1)
            self.branch3x3dbl_2 = Basic(448, 384, 3, pad=1)
            self.branch3x3dbl_3a = Basic(384, 384, (1, 3), pad=(0, 1))
            self.branch3x3dbl_3b = Basic(384, 384, (3, 1), pad=(1, 0))
            self.branch_pool = Basic(cin, 192, 1)

        def forward(self, x):
            b3 = self.branch3x3_1(x)
            b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
            bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
            pool = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else tf_avg(x)
            return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pool)], 1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.Conv2d_1a_3x3 = Basic(3, 32, 3, stride=2)
            self.Conv2d_2a_3x3 = Basic(32, 32, 3)
            self.Conv2d_2b_3x3 = Basic(32, 64, 3, pad=1)
            self.Conv2d_3b_1x1 = Basic(64, 80, 1)
            self.Conv2d_4a_3x3 = Basic(80, 192, 3)
            self.Mixed_5b = A(192, 32)
            self.Mixed_5c = A(256, 64)
            self.Mixed_5d = A(288, 64)
            self.Mixed_6a = B(288)
            self.Mixed_6b = C(768, 128)
            self.Mixed_6c = C(768, 160)
            self.Mixed_6d = C(768, 160)
            self.Mixed_6e = C(768, 192)
            self.Mixed_7a = D(768)
            self.Mixed_7b = E(1280, False)
            self.Mixed_7c = E(2048, True)
            self.fc = nn.Linear(2048, 1008)

        def forward(self, x):
            x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
            x = F.max_pool2d(x, 3, stride=2)
            x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
            x = F.max_pool2d(x, 3, stride=2)
            for name in ["5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"]:
                x = getattr(self, "Mixed_" + name)(x)
            return F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)

    torch.set_num_threads(job.get("threads", 1))
    net = Net().eval()
    net.load_state_dict(torch.load(job["weights"]), strict=True)
    out = {}
    if job.get("save"):
        # A state dict as PyTorch writes it (with num_batches_tracked), like
        # pytorch-fid's weights file.
        torch.save(net.state_dict(), job["save"])
    with torch.no_grad():
        for run in job["runs"]:
            x = np.fromfile(run["input"], dtype="<f4").reshape(run["shape"])
            y = net(torch.from_numpy(x)).numpy()
            y.astype("<f4").tofile(run["output"])
            out[run["output"]] = list(y.shape)
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        job = json.load(f)
    print(json.dumps(globals()[job["kind"]](job)))
