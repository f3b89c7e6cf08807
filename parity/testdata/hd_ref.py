"""pix2pixHD in PyTorch, written for cyclepix's tests from the parity
fixtures' README (section "pix2pixHD") and NVIDIA/pix2pixHD's description
of its networks, losses and train.py (models/networks.py,
models/pix2pixHD_model.py): the same module structure, so the same
state-dict keys and shapes, and the same results.

* Networks: GlobalGenerator (keys model.<i>), LocalEnhancer (model.*,
  model<n>_1.*, model<n>_2.*), Encoder (model.<i>) with instance-wise
  average pooling, MultiscaleDiscriminator with getIntermFeat
  (scale<k>_layer<j>.*) or without (layer<k>.*), the Sigmoid that
  use_sigmoid appends (kept only without getIntermFeat, as pix2pixHD's
  MultiscaleDiscriminator copies only the first n_layers+2 groups).
  define_G/define_D/define_E initialise as pix2pixHD's weights_init: conv
  weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0; conv
  biases keep PyTorch's default init.
* Losses: GAN (summed over scales; lsgan MSE; vanilla BCELoss after D's
  sigmoid, or BCE-with-logits where D has none: the mathematically
  intended form of --no_lsgan with feature matching, where pix2pixHD
  crashes), feature matching, the VGG19 loss (torchvision's features, no
  input normalisation), get_edges, the one-hot label encoding.
* train_step: one iteration of train.py in pix2pixHD's order (one forward;
  G step; D step with D's gradient at the initial weights), with
  optimizer_G over G's parameters (only model<n_local_enhancers>_* with
  --niter_fix_global > 0) and E's; lr_schedule: train.py's learning rates.

As a script it is the PyTorch side of networks/hd_pytorch_test.go:

usage: hd_ref.py crosscheck SPEC_JSON DIR
"""
import collections
import io
import json
import os
import sys
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ------------------------------------------------------------- networks

def norm_layer(norm):
    """get_norm_layer: BatchNorm2d with affine parameters, or InstanceNorm2d
    without affine parameters and running statistics."""
    if norm == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True)
    if norm == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False)
    raise ValueError("norm %r: pix2pixHD has batch and instance" % norm)


class ResnetBlock(nn.Module):
    """x + [pad 1, conv 3x3, norm, ReLU, pad 1, conv 3x3, norm](x)."""

    def __init__(self, dim, norm):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim))

    def forward(self, x):
        return x + self.conv_block(x)


def coarse_to_fine(inc, outc, ngf, n_down, n_blocks, norm):
    """GlobalGenerator's layer list (also the Encoder's, with no blocks)."""
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(inc, ngf, 7), norm(ngf), nn.ReLU(True)]
    for i in range(n_down):
        c = ngf * 2 ** i
        layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), norm(2 * c), nn.ReLU(True)]
    layers += [ResnetBlock(ngf * 2 ** n_down, norm) for _ in range(n_blocks)]
    for i in range(n_down, 0, -1):
        c = ngf * 2 ** i
        layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1), norm(c // 2),
                   nn.ReLU(True)]
    return layers + [nn.ReflectionPad2d(3), nn.Conv2d(ngf, outc, 7), nn.Tanh()]


def downsample(x):
    """AvgPool2d(3, stride 2, padding 1, count_include_pad=False)."""
    return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)


class GlobalGenerator(nn.Module):
    def __init__(self, inc, outc, ngf, n_down, n_blocks, norm):
        super().__init__()
        self.model = nn.Sequential(*coarse_to_fine(inc, outc, ngf, n_down, n_blocks, norm))

    def forward(self, x):
        return self.model(x)


class LocalEnhancer(nn.Module):
    """A global generator of ngf * 2^n_enh filters without its last three
    layers on the input pooled n_enh times; enhancer n (model<n>_1 on the
    input pooled n_enh - n times, added to the result so far, then
    model<n>_2) doubles the resolution; the last one ends in the output
    conv and tanh."""

    def __init__(self, inc, outc, ngf, n_down, n_blocks, n_enh, n_blocks_local, norm):
        super().__init__()
        self.n_enh = n_enh
        self.model = nn.Sequential(*coarse_to_fine(inc, outc, ngf * 2 ** n_enh, n_down, n_blocks, norm)[:-3])
        for n in range(1, n_enh + 1):
            c = ngf * 2 ** (n_enh - n)
            down = [nn.ReflectionPad2d(3), nn.Conv2d(inc, c, 7), norm(c), nn.ReLU(True),
                    nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), norm(2 * c), nn.ReLU(True)]
            up = [ResnetBlock(2 * c, norm) for _ in range(n_blocks_local)]
            up += [nn.ConvTranspose2d(2 * c, c, 3, stride=2, padding=1, output_padding=1), norm(c), nn.ReLU(True)]
            if n == n_enh:
                up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, outc, 7), nn.Tanh()]
            self.add_module("model%d_1" % n, nn.Sequential(*down))
            self.add_module("model%d_2" % n, nn.Sequential(*up))

    def forward(self, x):
        pyramid = [x]
        for _ in range(self.n_enh):
            pyramid.append(downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_enh + 1):
            d = getattr(self, "model%d_1" % n)(pyramid[self.n_enh - n])
            out = getattr(self, "model%d_2" % n)(d + out)
        return out


def instance_average(feat, ids):
    """Every pixel's features replaced by their mean over the pixels of its
    sample with the same id (ids [N,1,H,W], compared as integers as
    pix2pixHD does), differentiably."""
    ids = ids.to(torch.int64)
    rows = []
    for b in range(feat.shape[0]):
        fb = feat[b]
        out = fb.clone()
        for i in torch.unique(ids[b, 0]).tolist():
            sel = ids[b, 0] == i
            vals = fb[:, sel]
            out[:, sel] = vals.mean(1, keepdim=True).expand_as(vals)
        rows.append(out)
    return torch.stack(rows)


class Encoder(nn.Module):
    def __init__(self, inc, outc, ngf, n_down, norm):
        super().__init__()
        self.model = nn.Sequential(*coarse_to_fine(inc, outc, ngf, n_down, 0, norm))

    def forward(self, x, ids):
        return instance_average(self.model(x), ids)


def patch_groups(inc, ndf, n_layers, norm, use_sigmoid):
    """NLayerDiscriminator's layer groups: 4x4 convs with padding 2, stride
    2 for the first n_layers and 1 for the last two, channels ndf * 2^k
    capped at 512."""
    groups = [[nn.Conv2d(inc, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True)]]
    nf = ndf
    for n in range(1, n_layers + 1):
        prev, nf = nf, min(nf * 2, 512)
        stride = 2 if n < n_layers else 1
        groups.append([nn.Conv2d(prev, nf, 4, stride=stride, padding=2), norm(nf), nn.LeakyReLU(0.2, True)])
    groups.append([nn.Conv2d(nf, 1, 4, stride=1, padding=2)])
    if use_sigmoid:
        groups.append([nn.Sigmoid()])
    return groups


class MultiscaleDiscriminator(nn.Module):
    """num_D PatchGANs; result[i] is computed by the parameters of scale
    num_D-1-i on the input pooled i times. With getIntermFeat every group's
    output is returned (and a Sigmoid group is left out, as in pix2pixHD)."""

    def __init__(self, inc, ndf, n_layers, norm, use_sigmoid, num_D, getIntermFeat):
        super().__init__()
        self.num_D, self.n_layers, self.getIntermFeat = num_D, n_layers, getIntermFeat
        for k in range(num_D):
            groups = patch_groups(inc, ndf, n_layers, norm, use_sigmoid)
            if getIntermFeat:
                for j in range(n_layers + 2):
                    self.add_module("scale%d_layer%d" % (k, j), nn.Sequential(*groups[j]))
            else:
                self.add_module("layer%d" % k, nn.Sequential(*[m for g in groups for m in g]))

    def forward(self, x):
        result = []
        for i in range(self.num_D):
            k = self.num_D - 1 - i
            if self.getIntermFeat:
                outs, h = [], x
                for j in range(self.n_layers + 2):
                    h = getattr(self, "scale%d_layer%d" % (k, j))(h)
                    outs.append(h)
            else:
                outs = [getattr(self, "layer%d" % k)(x)]
            result.append(outs)
            if i != self.num_D - 1:
                x = downsample(x)
        return result


def weights_init(m):
    name = m.__class__.__name__
    if "Conv" in name:
        m.weight.data.normal_(0.0, 0.02)
    elif "BatchNorm2d" in name:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


def define_G(inc, outc, ngf, netG, n_down, n_blocks, n_enh=1, n_blocks_local=3, norm="instance"):
    if netG == "global":
        net = GlobalGenerator(inc, outc, ngf, n_down, n_blocks, norm_layer(norm))
    elif netG == "local":
        net = LocalEnhancer(inc, outc, ngf, n_down, n_blocks, n_enh, n_blocks_local, norm_layer(norm))
    else:
        raise ValueError("netG %r" % netG)
    net.apply(weights_init)
    return net


def define_E(inc, outc, nef, n_down, norm="instance"):
    net = Encoder(inc, outc, nef, n_down, norm_layer(norm))
    net.apply(weights_init)
    return net


def define_D(inc, ndf, n_layers, norm="instance", use_sigmoid=False, num_D=1, getIntermFeat=False):
    net = MultiscaleDiscriminator(inc, ndf, n_layers, norm_layer(norm), use_sigmoid, num_D, getIntermFeat)
    net.apply(weights_init)
    return net


# ------------------------------------------------------------------ VGG19

VGG_CONVS = [(3, 64), (64, 64), None, (64, 128), (128, 128), None, (128, 256), (256, 256), (256, 256), (256, 256),
             None, (256, 512), (512, 512), (512, 512), (512, 512), None, (512, 512)]
VGG_SLICES = [(0, 2), (2, 7), (7, 12), (12, 21), (21, 30)]
VGG_WEIGHTS = [1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0]


class VGG19(nn.Module):
    """torchvision's vgg19().features[0:30] (relu5_1), frozen."""

    def __init__(self):
        super().__init__()
        layers = []
        for c in VGG_CONVS:
            if c is None:
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c[0], c[1], 3, padding=1), nn.ReLU(True)]
        self.features = nn.Sequential(*layers)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        out = []
        for a, b in VGG_SLICES:
            x = self.features[a:b](x)
            out.append(x)
        return out


def vgg_state(seed, period=4093):
    """Random VGG weights by the fixtures' vgg_weights rule: per conv in
    order, a float64 table of `period` N(0, 2/fan_in) values repeated over
    the flattened weight, then N(0, 0.1) biases."""
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    idx = 0
    for c in VGG_CONVS:
        if c is None:
            idx += 1
            continue
        inc, outc = c
        table = torch.randn(period, dtype=torch.float64, generator=g) * (2.0 / (inc * 9)) ** 0.5
        n = outc * inc * 9
        sd["features.%d.weight" % idx] = table[torch.arange(n) % period].float().reshape(outc, inc, 3, 3).contiguous()
        sd["features.%d.bias" % idx] = (torch.randn(outc, dtype=torch.float64, generator=g) * 0.1).float()
        idx += 2
    return sd


def save_deflated(sd, path):
    """torch.save with the zip entries DEFLATE-compressed (torch.load and
    cyclepix's reader inflate them): the periodic VGG weights shrink from
    80 MB to well under 1 MB."""
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename), compress_type=zipfile.ZIP_DEFLATED)


def load_vgg(sd):
    v = VGG19()
    v.load_state_dict(sd, strict=True)
    return v.eval()


def vgg_loss(vgg, x, y):
    xs, ys = vgg(x), vgg(y)
    loss = 0
    for w, a, b in zip(VGG_WEIGHTS, xs, ys):
        loss = loss + w * F.l1_loss(a, b.detach())
    return loss


# ----------------------------------------------------------------- losses

def gan_loss(preds, target_real, form):
    """pix2pixHD's GANLoss on a multi-scale result: the loss of each scale's
    last output, summed. form: lsgan (MSE), bce (BCELoss on D's sigmoid
    output) or bce_logits (BCE on logits, where D has no sigmoid)."""
    loss = 0
    for p in preds:
        x = p[-1]
        t = torch.full_like(x, 1.0 if target_real else 0.0)
        if form == "lsgan":
            loss = loss + F.mse_loss(x, t)
        elif form == "bce":
            loss = loss + F.binary_cross_entropy(x, t)
        else:
            loss = loss + F.binary_cross_entropy_with_logits(x, t)
    return loss


def feature_matching(pred_fake, pred_real, num_D, n_layers, lambda_feat):
    feat_w, d_w = 4.0 / (n_layers + 1), 1.0 / num_D
    loss = 0
    for i in range(num_D):
        for j in range(len(pred_fake[i]) - 1):
            loss = loss + d_w * feat_w * F.l1_loss(pred_fake[i][j], pred_real[i][j].detach()) * lambda_feat
    return loss


def one_hot(label_map, label_nc, dtype=torch.float32):
    """label_map [N,1,H,W] (class ids as floats) -> [N,label_nc,H,W]."""
    n, _, h, w = label_map.shape
    return torch.zeros(n, label_nc, h, w, dtype=dtype).scatter_(1, label_map.long(), 1.0)


def get_edges(t, dtype=torch.float32):
    """1 where an id differs from its left, right, upper or lower neighbour."""
    e = torch.zeros(t.shape, dtype=torch.bool)
    dx = t[:, :, :, 1:] != t[:, :, :, :-1]
    dy = t[:, :, 1:, :] != t[:, :, :-1, :]
    e[:, :, :, 1:] |= dx
    e[:, :, :, :-1] |= dx
    e[:, :, 1:, :] |= dy
    e[:, :, :-1, :] |= dy
    return e.to(dtype)


# ------------------------------------------------------------------ model

OPT_DEFAULTS = {
    "label_nc": 35, "input_nc": 3, "output_nc": 3, "no_instance": False, "instance_feat": False, "label_feat": False,
    "feat_num": 3, "nef": 16, "n_downsample_E": 4, "load_features": False, "netG": "global", "ngf": 64,
    "n_downsample_global": 4, "n_blocks_global": 9, "n_local_enhancers": 1, "n_blocks_local": 3, "norm": "instance",
    "ndf": 64, "num_D": 2, "n_layers_D": 3, "no_ganFeat_loss": False, "no_vgg_loss": False, "no_lsgan": False,
    "lambda_feat": 10.0, "lr": 0.0002, "beta1": 0.5, "pool_size": 0, "niter": 100, "niter_decay": 100,
    "niter_fix_global": 0, "batchSize": 1, "loadSize": 1024, "fineSize": 512, "data_type": 32, "fp16": False,
    "use_dropout": False,
}


def options(**kw):
    unknown = set(kw) - set(OPT_DEFAULTS)
    if unknown:
        raise ValueError("unknown options %s" % sorted(unknown))
    return dict(OPT_DEFAULTS, **kw)


def channels(o):
    """(netG_input_nc, netD_input_nc) as Pix2PixHDModel.initialize counts."""
    inc = o["label_nc"] if o["label_nc"] != 0 else o["input_nc"]
    g = inc + (0 if o["no_instance"] else 1)
    d = g + o["output_nc"]
    if o["instance_feat"] or o["label_feat"]:
        g += o["feat_num"]
    return g, d


def gen_features(o):
    return (o["instance_feat"] or o["label_feat"]) and not o["load_features"]


def build(o):
    """netG, netD (and netE), built and initialised in Pix2PixHDModel's order."""
    g_in, d_in = channels(o)
    nets = {"G": define_G(g_in, o["output_nc"], o["ngf"], o["netG"], o["n_downsample_global"], o["n_blocks_global"],
                          o["n_local_enhancers"], o["n_blocks_local"], o["norm"]),
            "D": define_D(d_in, o["ndf"], o["n_layers_D"], o["norm"], o["no_lsgan"], o["num_D"],
                          not o["no_ganFeat_loss"])}
    if gen_features(o):
        nets["E"] = define_E(o["output_nc"], o["feat_num"], o["nef"], o["n_downsample_E"], o["norm"])
    return nets


def gan_form(o):
    if not o["no_lsgan"]:
        return "lsgan"
    # D keeps its Sigmoid only without getIntermFeat.
    return "bce" if o["no_ganFeat_loss"] else "bce_logits"


def g_params(o, G, E):
    """optimizer_G's parameters."""
    if o["niter_fix_global"] > 0:
        prefix = "model" + str(o["n_local_enhancers"])
        params = [p for k, p in G.named_parameters() if k.startswith(prefix)]
    else:
        params = list(G.parameters())
    if E is not None:
        params += list(E.parameters())
    return params


def grads_of(net):
    out, none = collections.OrderedDict(), []
    for k, p in net.named_parameters():
        if p.grad is None:
            out[k] = torch.zeros_like(p)
            none.append(k)
        else:
            out[k] = p.grad.detach().clone()
    return out, none


def train_step(o, nets, batch, vgg=None):
    """One train.py iteration. batch: label ([N,input_nc,H,W] image with
    label_nc 0, else the [N,1,H,W] label map as floats), inst ([N,1,H,W]
    ids, unless no_instance and not needed), image. Returns the computed
    inputs, images, D outputs, losses and the gradients each optimiser
    used (netG's: every parameter's .grad at optimizer_G's step)."""
    G, D, E = nets["G"], nets["D"], nets.get("E")
    dt = batch["image"].dtype
    label, inst, real = batch["label"], batch.get("inst"), batch["image"]
    # encode_input
    r = {}
    if o["label_nc"] == 0:
        input_label = label
    else:
        input_label = r["onehot"] = one_hot(label, o["label_nc"], dt)
    if not o["no_instance"]:
        r["edge_map"] = get_edges(inst, dt)
        input_label = torch.cat((input_label, r["edge_map"]), 1)
    g_in = input_label
    if E is not None:
        feat_map = E(real, label if o["label_feat"] else inst)
        g_in = torch.cat((input_label, feat_map), 1)
    fake = G(g_in)
    form = gan_form(o)
    pred_fake_pool = D(torch.cat((input_label, fake.detach()), 1))  # pool_size 0: the pool returns its input
    loss_D_fake = gan_loss(pred_fake_pool, False, form)
    pred_real = D(torch.cat((input_label, real.detach()), 1))
    loss_D_real = gan_loss(pred_real, True, form)
    pred_fake = D(torch.cat((input_label, fake), 1))
    loss_G_GAN = gan_loss(pred_fake, True, form)
    losses = collections.OrderedDict(G_GAN=loss_G_GAN)
    if not o["no_ganFeat_loss"]:
        losses["G_GAN_Feat"] = feature_matching(pred_fake, pred_real, o["num_D"], o["n_layers_D"], o["lambda_feat"])
    if not o["no_vgg_loss"]:
        losses["G_VGG"] = vgg_loss(vgg, fake, real) * o["lambda_feat"]
    losses["D_real"], losses["D_fake"] = loss_D_real, loss_D_fake
    loss_D = (losses["D_fake"] + losses["D_real"]) * 0.5
    loss_G = losses["G_GAN"] + losses.get("G_GAN_Feat", 0) + losses.get("G_VGG", 0)
    losses["loss_G"], losses["loss_D"] = loss_G, loss_D

    opt_G = torch.optim.Adam(g_params(o, G, E), lr=o["lr"], betas=(o["beta1"], 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=o["lr"], betas=(o["beta1"], 0.999))
    grads = {}
    opt_G.zero_grad()
    loss_G.backward()
    grads["G"] = grads_of(G)
    if E is not None:
        grads["E"] = grads_of(E)
    opt_G.step()
    opt_D.zero_grad()
    loss_D.backward()
    grads["D"] = grads_of(D)
    opt_D.step()
    r.update(input_label=input_label, fake_image=fake, pred_real=[p[-1] for p in pred_real],
             pred_fake=[p[-1] for p in pred_fake], losses=losses, grads=grads)
    return r


def lr_schedule(o):
    """The learning rate of both optimisers during each epoch of train.py
    (update_fixed_params at the end of epoch niter_fix_global, then
    update_learning_rate's repeated subtraction at the end of every epoch
    past niter), read from Pix2PixHDModel's optimizers; and after the
    last epoch."""
    w = nn.Parameter(torch.zeros(1))
    opt_G = torch.optim.Adam([w], lr=o["lr"], betas=(o["beta1"], 0.999))
    opt_D = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=o["lr"], betas=(o["beta1"], 0.999))
    old_lr = o["lr"]
    per = []
    for epoch in range(1, o["niter"] + o["niter_decay"] + 1):
        per.append({"epoch": epoch, "lr_G": opt_G.param_groups[0]["lr"], "lr_D": opt_D.param_groups[0]["lr"]})
        if o["niter_fix_global"] != 0 and epoch == o["niter_fix_global"]:
            opt_G = torch.optim.Adam([w], lr=o["lr"], betas=(o["beta1"], 0.999))
        if epoch > o["niter"]:
            lr = old_lr - o["lr"] / o["niter_decay"]
            for g in opt_D.param_groups + opt_G.param_groups:
                g["lr"] = lr
            old_lr = lr
    return per, {"lr_G": opt_G.param_groups[0]["lr"], "lr_D": opt_D.param_groups[0]["lr"], "old_lr": old_lr}


# ------------------------------------------------------ the Go cross-check

def crosscheck(spec, d):
    """For each network of spec: load cyclepix's weights (<name>.pth)
    strictly, run it in eval mode on <name>_in.npy and write its outputs
    as go_<name>_*.npy; build the same network here (seeded), save it as
    py_<name>.pth and write its outputs as py_<name>_*.npy."""
    torch.set_num_threads(1)

    def npy(name):
        return torch.from_numpy(np.load(os.path.join(d, name)))

    for s in spec:
        name, kind = s["name"], s["kind"]
        x = npy(name + "_in.npy")

        def make():
            if kind == "G":
                return define_G(s["in"], s["out"], s["ngf"], s["netG"], s["n_down"], s["n_blocks"], s.get("n_enh", 1),
                                s.get("n_blocks_local", 3), s["norm"])
            if kind == "D":
                return define_D(s["in"], s["ndf"], s["n_layers"], s["norm"], False, s["num_D"], s["interm"])
            return define_E(s["in"], s["out"], s["ngf"], s["n_down"], s["norm"])

        def run(net, prefix):
            net.eval()
            with torch.no_grad():
                if kind == "G":
                    outs = {"out": net(x)}
                elif kind == "D":
                    outs = {"s%d_l%d" % (i, j): t for i, r in enumerate(net(x)) for j, t in enumerate(r)}
                else:
                    ids = npy(name + "_inst.npy")
                    outs = {"raw": net.model(x), "mean": net(x, ids)}
            for k, t in outs.items():
                np.save(os.path.join(d, "%s_%s_%s.npy" % (prefix, name, k)), t.numpy())

        net = make()
        net.load_state_dict(torch.load(os.path.join(d, name + ".pth")), strict=True)
        run(net, "go")
        torch.manual_seed(s["seed"])
        net = make()
        g = torch.Generator().manual_seed(s["seed"] + 1)
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.bias.normal_(0, 0.1, generator=g)
                    m.running_mean.normal_(0, 0.2, generator=g)
                    m.running_var.uniform_(0.5, 1.5, generator=g)
                    m.num_batches_tracked.fill_(3)
        torch.save(net.state_dict(), os.path.join(d, "py_%s.pth" % name))
        run(net, "py")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "crosscheck":
        sys.exit(__doc__)
    with open(sys.argv[2]) as f:
        crosscheck(json.load(f), sys.argv[3])
